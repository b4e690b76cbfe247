/// A per-thread scratch buffer that grows as needed and is never given back: the pool's workers
/// widen weight tiles into it for every product, and allocating (and faulting in) fresh memory
/// per call would cost more than the widening.
#include "tessera_kernels.h"
#include <stdlib.h>

static _Thread_local void *scratch_bytes;
static _Thread_local size_t scratch_size;

void *tk_thread_scratch(size_t bytes) {
    if (bytes <= scratch_size) return scratch_bytes;
    size_t size = scratch_size ? scratch_size : 4096;
    while (size < bytes) size *= 2;
    void *fresh = NULL;
    if (posix_memalign(&fresh, 64, size) != 0) return NULL;
    free(scratch_bytes);
    scratch_bytes = fresh;
    scratch_size = size;
    return fresh;
}
