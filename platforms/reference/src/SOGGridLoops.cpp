/*
 * The grid loops for the build's baseline instruction set, and the choice between instruction sets.
 */
#define SOG_GRID_ISA baseline
#define SOG_GRID_ISA_NAME "baseline"
#define SOG_GRID_VECTOR_BYTES 16
#include "SOGGridLoopsImpl.h"

namespace SOGPlugin {

#ifdef SOG_HAVE_AVX2_LOOPS
static bool processorHasAvx2() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

template <>
const SOGGridLoops<float>& selectGridLoops<float>() {
#ifdef SOG_HAVE_AVX2_LOOPS
    static const bool avx2 = processorHasAvx2();
    if (avx2)
        return avx2::floatLoops;
#endif
    return baseline::floatLoops;
}

template <>
const SOGGridLoops<double>& selectGridLoops<double>() {
#ifdef SOG_HAVE_AVX2_LOOPS
    static const bool avx2 = processorHasAvx2();
    if (avx2)
        return avx2::doubleLoops;
#endif
    return baseline::doubleLoops;
}

} // namespace SOGPlugin
