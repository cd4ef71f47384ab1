#ifndef OPENMM_CPUSOGCOULOMBREALSPACEKERNEL_H_
#define OPENMM_CPUSOGCOULOMBREALSPACEKERNEL_H_

#include "ReferenceSOGCoulombRealSpaceKernel.h"
#include "openmm/KernelFactory.h"
#include "CpuPlatform.h"
#include <vector>

namespace SOGPlugin {

/**
 * What the SIMD pair loop (CpuSOGComplementBlocks.h) reads; single precision as in the CPU
 * platform's own nonbonded kernels.
 */
struct SOGComplementBlockArgs {
    const OpenMM::CpuNeighborList* neighbors;
    const float* posq;               // positions (nm) at 4*i, 4*i+1, 4*i+2
    // Four values per particle, in one cache line: at 4*i the charge f_i q_i (proton charges),
    // dq_eff/dlambda (q_i for scaled particles, else 0), sigma_i/2 (nm; Lorentz: sigma_ij is the
    // sum of the two) and 2 sqrt(epsilon_i) (sqrt(kJ/mol); the product is 4 epsilon_ij).
    const float* particleParameters;
    const float* table;              // cubic coefficients of g per interval of r^2 (4 per interval)
    int numIntervals;
    float invTableSpacing;           // 1/(interval width), 1/nm^2
    float cutoff2;                   // nm^2
    float prefactor;                 // A, kJ/mol nm/e^2
    float switchingDistance;         // r_s, nm (only with switching)
    float invSwitchingWidth;         // 1/(r_c - r_s), 1/nm (only with switching)
    float box[9];                    // box vectors a, b, c (reduced form), nm
    bool triclinic, computeEnergy, computeDerivative;
    bool lennardJones;               // whether any particle has epsilon > 0
    bool switching;                  // whether Lennard-Jones is switched off between r_s and r_c
    std::atomic<int>* nextBlock;     // shared by the threads: the next block to take
};

/**
 * The pair loop in 4-wide vectors, 8-wide AVX vectors and 8-wide AVX2+FMA vectors (each for any
 * block size; callers check the processor): adds the forces (kJ/mol/nm) to `forces` (4 floats per
 * particle) and returns this thread's energy (kJ/mol) and dE/dlambda (kJ/mol).
 */
void computeComplementBlocksVec4(const SOGComplementBlockArgs& args, float* forces, double& energy, double& derivative);
void computeComplementBlocksVec8(const SOGComplementBlockArgs& args, float* forces, double& energy, double& derivative);
void computeComplementBlocksVec8Fma(const SOGComplementBlockArgs& args, float* forces, double& energy, double& derivative);

/**
 * SOGCoulombRealSpaceForce on the CPU platform. The cutoff pair sum (Coulomb complement and
 * Lennard-Jones together) runs over the CPU platform's shared neighbour list (blocks of 4 or 8
 * atoms against their neighbours) in single precision, 4 or 8 pairs per SIMD operation, on the
 * platform's threads. g is read from a table of cubic
 * Hermite pieces in r^2 (exact values and slopes at the nodes; the interval width is chosen so
 * that the interpolation error stays below single-precision rounding), which costs one lookup
 * instead of several exponentials. The exceptions (Lennard-Jones included), the dispersion
 * correction and the charge scaling are the Reference kernel's (double precision).
 */
class CpuCalcSOGCoulombRealSpaceForceKernel : public ReferenceCalcSOGCoulombRealSpaceForceKernel {
public:
    CpuCalcSOGCoulombRealSpaceForceKernel(std::string name, const OpenMM::Platform& platform, OpenMM::CpuPlatform::PlatformData& data) :
            ReferenceCalcSOGCoulombRealSpaceForceKernel(name, platform), data(data) {
    }
    void initialize(const OpenMM::System& system, const SOGCoulombRealSpaceForce& force);
    void copyParametersToContext(OpenMM::ContextImpl& context, const SOGCoulombRealSpaceForce& force);
protected:
    double calcPairSum(OpenMM::ContextImpl& context, const std::vector<double>& scaledCharges,
            const std::vector<double>& derivativeCharges, bool includeForces, bool includeEnergy, double& derivative);
    /**
     * The exceptions' terms computed by the threads, then added to the forces in one loop.
     */
    double calcExceptions(OpenMM::ContextImpl& context, const std::vector<double>& factors, bool includeForces, double& derivative);
private:
    OpenMM::CpuPlatform::PlatformData& data;
    /**
     * Copy the per-particle Lennard-Jones parameters into particleParameters.
     */
    void setLennardJonesArrays();
    std::vector<float> particleParameters;                    // see SOGComplementBlockArgs
    std::vector<float> table;                                 // see SOGComplementBlockArgs
    int numIntervals;
    double tableSpacing;                                      // nm^2
    std::vector<double> threadEnergy, threadDerivative;       // kJ/mol per thread
    std::vector<OpenMM::Vec3> exceptionForces;                // on each exception's first particle, kJ/mol/nm
    std::atomic<int> nextBlock;
};

/**
 * Creates SOGCoulombRealSpaceForce's kernel on the CPU platform.
 */
class CpuSOGKernelFactory : public OpenMM::KernelFactory {
public:
    OpenMM::KernelImpl* createKernelImpl(std::string name, const OpenMM::Platform& platform, OpenMM::ContextImpl& context) const;
};

} // namespace SOGPlugin

#endif /*OPENMM_CPUSOGCOULOMBREALSPACEKERNEL_H_*/
