// The pair loop in 8-wide AVX vectors, for blocks of 8 (compiled with -mavx; called only when the
// CPU platform chose blocks of 8, which it does when the processor has AVX).
#include "openmm/internal/vectorize.h"
#include "openmm/internal/vectorizeAvx.h"
#define SOG_CPU_FVEC8
#include "CpuSOGComplementBlocks.h"

void SOGPlugin::computeComplementBlocksVec8(const SOGComplementBlockArgs& args, float* forces, double& energy, double& derivative) {
    computeComplementBlocks<fvec8, ivec8, 8>(args, forces, energy, derivative);
}
