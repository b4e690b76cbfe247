// Open MPI's handles are macros over the addresses of globals (MPI_COMM_WORLD is
// `&ompi_mpi_comm_world`, MPI_IN_PLACE is `(void *)1`), which Swift cannot import: these
// getters hand them over as functions.
#include <mpi.h>

static inline MPI_Comm tessera_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Comm tessera_mpi_comm_null(void) { return MPI_COMM_NULL; }
static inline MPI_Datatype tessera_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype tessera_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype tessera_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Op tessera_mpi_sum(void) { return MPI_SUM; }
static inline void *tessera_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Request tessera_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *tessera_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Errhandler tessera_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline int tessera_mpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
static inline int tessera_mpi_success(void) { return MPI_SUCCESS; }
static inline int tessera_mpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline MPI_Info tessera_mpi_info_null(void) { return MPI_INFO_NULL; }
