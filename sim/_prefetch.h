/* The kernels' prefetches (sixteenth pass): at a national audience the population's columns
 * (counts, states, regions: 10^8 entries) and a large KOL's followers are read at random
 * lines, and the loops waited on each read; they ask for the line AHEAD items on
 * (__builtin_prefetch: no value read, no number or draw changed), only in arrays of at least
 * PREFETCH_BYTES (smaller ones stay cached: the asking would only add instructions).
 *
 * Shared by sim/_draws.c and sim/_wishes.c; part of every kernel's stamp (setup.py).
 */
#ifndef VIRALCHAIN_PREFETCH_H
#define VIRALCHAIN_PREFETCH_H

/* how many items ahead the loops ask for the line they will read */
#define AHEAD 32
/* ... when the array read at random holds at least this many bytes (twice the L2 cache here:
 * the 1M run's 2 MB of counts stay cached; a national audience's largest KOLs' followers are
 * 16-140 MB of int32) */
#define PREFETCH_BYTES (4 << 20)

#endif
