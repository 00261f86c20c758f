/* numpy's public bit generator interface (numpy/random/bitgen.h), shared by the kernels
 * that draw (sim/compiled.py). A generator's ``rng.bit_generator.capsule`` is a PyCapsule
 * named "BitGenerator" holding a ``bitgen_t *``: drawing through it gives the generator's
 * own words in numpy's order. The kernels call it with the GIL held and without the
 * generator's lock (one thread per generator, as the model uses them).
 *
 * A kernel's build is stamped with the SHA-256 of its source and of every shared header
 * sim/_*.h (setup.py, sim.compiled.source_sha256): an edit here makes every build stale.
 */
#ifndef VIRALCHAIN_BITGEN_H
#define VIRALCHAIN_BITGEN_H

#include <Python.h>
#include <stdint.h>

typedef struct bitgen {
    void *state;
    uint64_t (*next_uint64)(void *st);
    uint32_t (*next_uint32)(void *st);
    double (*next_double)(void *st);
    uint64_t (*next_raw)(void *st);
} bitgen_t;

/* the bitgen_t of a bit generator's capsule; NULL with TypeError (not a capsule) or
 * ValueError (a capsule of another name) set */
static inline bitgen_t *
get_bitgen(PyObject *capsule)
{
    if (!PyCapsule_CheckExact(capsule)) {
        PyErr_SetString(PyExc_TypeError,
                        "expected a bit generator's capsule (rng.bit_generator.capsule)");
        return NULL;
    }
    return (bitgen_t *)PyCapsule_GetPointer(capsule, "BitGenerator");
}

#endif
