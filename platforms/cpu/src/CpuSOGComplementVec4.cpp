// The pair loop in 4-wide vectors (SSE4.1 on x86, NEON on ARM): every block size.
#include "openmm/internal/vectorize.h"
#include "CpuSOGComplementBlocks.h"

void SOGPlugin::computeComplementBlocksVec4(const SOGComplementBlockArgs& args, float* forces, double& energy, double& derivative) {
    computeComplementBlocks<fvec4, ivec4, 4>(args, forces, energy, derivative);
}
