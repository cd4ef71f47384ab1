/*
 * The grid loops for the build's baseline instruction set, and the choice between instruction sets.
 */
#define SOG_GRID_ISA baseline
#define SOG_GRID_ISA_NAME "baseline"
#define SOG_GRID_VECTOR_BYTES 16
#include "SOGGridLoopsImpl.h"

namespace SOGPlugin {

#ifdef SOG_HAVE_AVX2_LOOPS
bool useAvx2Loops() {
    static const bool avx2 = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }();
    return avx2;
}
#endif

template <>
const SOGGridLoops<float>& selectGridLoops<float>() {
#ifdef SOG_HAVE_AVX2_LOOPS
    if (useAvx2Loops())
        return avx2::floatLoops;
#endif
    return baseline::floatLoops;
}

template <>
const SOGGridLoops<double>& selectGridLoops<double>() {
#ifdef SOG_HAVE_AVX2_LOOPS
    if (useAvx2Loops())
        return avx2::doubleLoops;
#endif
    return baseline::doubleLoops;
}

} // namespace SOGPlugin
