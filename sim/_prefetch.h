/* The kernels' prefetches (sixteenth pass): at a national audience the population's columns
 * (counts, states, regions: 10^8 entries) and a large KOL's followers are read at random
 * lines, and the loops waited on each read; they ask for the line AHEAD items on
 * (__builtin_prefetch: no value read, no number or draw changed), only in arrays of at least
 * PREFETCH_BYTES (smaller ones stay cached: the asking would only add instructions).
 *
 * PREFETCH_AT forms the address as an integer, not by pointer arithmetic: an index not yet
 * bounds-checked (a consumer read AHEAD items before its check) forms no pointer past an
 * array's end (undefined behaviour in C even unread); a prefetch of any address never faults.
 *
 * Shared by sim/_draws.c, sim/_wishes.c and sim/_graph.c; part of every kernel's stamp
 * (setup.py).
 */
#ifndef VIRALCHAIN_PREFETCH_H
#define VIRALCHAIN_PREFETCH_H

#include <stdint.h>

/* how many items ahead the loops ask for the line they will read */
#define AHEAD 32
/* ... when the array read at random holds at least this many bytes (twice the L2 cache here:
 * the 1M run's 2 MB of counts stay cached; a national audience's largest KOLs' followers are
 * 16-140 MB of int32) */
#define PREFETCH_BYTES (4 << 20)

/* __builtin_prefetch of base's item index (any int64, checked or not) of itemsize bytes; rw:
 * 0 read, 1 write (constants) */
#define PREFETCH_AT(base, index, itemsize, rw)                                                 \
    __builtin_prefetch((const void *)((uintptr_t)(base) +                                      \
                                      (uintptr_t)((uint64_t)(index) * (uint64_t)(itemsize))), \
                       (rw), 3)

#endif
