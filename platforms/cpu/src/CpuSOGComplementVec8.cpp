// The pair loop in 8-wide AVX vectors, for blocks of 8 or 4 (compiled with -mavx; called only on
// processors with AVX).
#include "openmm/internal/vectorize.h"
#include "openmm/internal/vectorizeAvx.h"
#define SOG_CPU_FVEC8
#include "CpuSOGComplementBlocks.h"

void SOGPlugin::computeComplementBlocksVec8(const SOGComplementBlockArgs& args, float* forces, double& energy, double& derivative) {
    computeComplementBlocks<fvec8, ivec8, 8>(args, forces, energy, derivative);
}

// The same loop with fused multiply-adds (about 10 % faster), for processors with AVX2 and FMA:
// flatten inlines everything it calls into this one function, which alone is compiled for AVX2 and
// FMA. Every out-of-line function of this file, including any copy of OpenMM's inline vector
// functions that the linker may share with other files, stays AVX-only.
__attribute__((target("avx2,fma"), flatten))
void SOGPlugin::computeComplementBlocksVec8Fma(const SOGComplementBlockArgs& args, float* forces, double& energy, double& derivative) {
    computeComplementBlocks<fvec8, ivec8, 8>(args, forces, energy, derivative);
}
