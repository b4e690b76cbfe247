import CTesseraKernels

/// Tessera's own thread pool (`tk_pool` of CTesseraKernels): `threads - 1` persistent workers
/// plus the calling thread share each parallel region, taking chunks one at a time from an
/// atomic counter. A region ends when its last chunk has finished, not when every thread has
/// turned up, so a worker the OS has descheduled (a busy machine, more threads than cores)
/// delays only the chunk it holds; the others, the caller included, take the rest. Idle workers
/// spin briefly and then sleep, so the pool costs no CPU between bursts of work.
///
/// One region at a time: `run` calls from several threads are serialised.
package final class ThreadPool: @unchecked Sendable {
    private let pool: OpaquePointer
    /// Threads taking part in a region, the caller included; worker indices are `0 ..< threads`.
    package let threads: Int

    /// A pool of `threads` threads in all (1: everything runs on the caller).
    package init(threads: Int) {
        precondition(threads >= 1, "ThreadPool needs at least one thread")
        guard let pool = tk_pool_create(Int32(clamping: threads)) else {
            fatalError("ThreadPool: cannot start \(threads - 1) worker threads")
        }
        self.pool = pool
        self.threads = Int(tk_pool_threads(pool))
    }

    /// Joins the workers (they may be asleep: they are woken to exit).
    deinit { tk_pool_destroy(pool) }

    /// Runs `body(chunk, worker)` once for every `chunk` in `0 ..< chunks` and returns when all
    /// have finished. `worker` (in `0 ..< threads`, 0 the calling thread) is unique among the
    /// chunks running at the same moment: an index for per-thread scratch space.
    ///
    /// `body` runs on several threads at once, so what it shares must be safe to share (each
    /// chunk writing its own part of an output is the intended use). It must not throw (it
    /// cannot) and must not call `run` on the same pool: that deadlocks. Writes made by `body`
    /// are visible to the caller when `run` returns.
    package func run(_ chunks: Int, _ body: (_ chunk: Int, _ worker: Int) -> Void) {
        guard chunks > 0 else { return }
        /// The closure stays on this stack frame; the C side gets a pointer to it and calls it
        /// through a context-free trampoline. One allocation per region remains: the box
        /// `withoutActuallyEscaping` puts around the closure (~25 ns). It goes away only when
        /// this function is inlined into its caller, which Swift 6.3 does across modules for a
        /// public `@inlinable` method but not for a package one (measured). A struct around the
        /// closure keeps it from being stored through a re-abstraction thunk (a second one).
        withoutActuallyEscaping(body) { body in
            var chunkBody = ThreadPoolChunk(body: body)
            withUnsafeMutablePointer(to: &chunkBody) { pointer in
                tk_pool_run(pool, Int64(chunks), threadPoolTrampoline, pointer)
            }
        }
    }

    /// The CPUs this process may use: its affinity mask (taskset, cpusets), capped by a cgroup
    /// CPU quota rounded up (a container's `--cpus`); at least 1. The natural pool size.
    package static var availableCPUs: Int { Int(tk_available_cpus()) }
}

/// The closure of a `ThreadPool.run` call, as the C trampoline reads it.
private struct ThreadPoolChunk {
    let body: (Int, Int) -> Void
}

/// Runs chunk `chunk` of a `ThreadPool.run` region: `context` points to its `ThreadPoolChunk`.
private func threadPoolTrampoline(_ context: UnsafeMutableRawPointer?, _ chunk: Int64, _ worker: Int32) {
    context.unsafelyUnwrapped.assumingMemoryBound(to: ThreadPoolChunk.self).pointee.body(Int(chunk), Int(worker))
}
