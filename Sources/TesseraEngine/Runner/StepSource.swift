import TesseraDistributed

/// Where one rank thread takes its next step from; nil once the run is over.
protocol StepSource {
    mutating func next() throws -> (step: Int, work: RankWork)?
}

/// Every rank in this process: the board the scheduling thread posts to.
struct BoardSource: StepSource {
    let board: StepBoard
    private var seen = 0

    init(board: StepBoard) { self.board = board }

    mutating func next() throws -> (step: Int, work: RankWork)? {
        guard let (step, work) = board.nextStep(after: seen) else { return nil }
        seen = step
        return (step, work)
    }
}

/// Rank 0 of a multi-process run: takes each step from the board and hands it to the other
/// processes before running it itself; when the board closes, tells them to stop.
struct RelayingSource: StepSource {
    var board: BoardSource
    let channel: any StepChannel

    mutating func next() throws -> (step: Int, work: RankWork)? {
        let next = try board.next()
        try channel.send(RankWork.encode(next?.work))
        return next
    }
}

/// The other ranks of a multi-process run: steps as rank 0 sends them.
struct ChannelSource: StepSource {
    let channel: any StepChannel
    private var step = 0

    init(channel: any StepChannel) { self.channel = channel }

    mutating func next() throws -> (step: Int, work: RankWork)? {
        guard let work = try RankWork.decode(try channel.receive()) else { return nil }
        step += 1
        return (step, work)
    }
}
