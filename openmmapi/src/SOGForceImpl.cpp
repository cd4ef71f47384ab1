#include "internal/SOGForceImpl.h"
#include "SOGKernels.h"
#include "openmm/CustomNonbondedForce.h"
#include "openmm/NonbondedForce.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include <algorithm>
#include <cmath>
#include <set>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

SOGForceImpl::SOGForceImpl(const SOGForce& owner) : owner(owner) {
}

SOGForceImpl::~SOGForceImpl() {
}

void SOGForceImpl::validatePeriodicSystem(const System& system, const string& forceName) {
    Vec3 box[3];
    system.getDefaultPeriodicBoxVectors(box[0], box[1], box[2]);
    double volume = box[0][0]*box[1][1]*box[2][2];
    if (!(volume > 0) || !isfinite(volume))
        throw OpenMMException(forceName + ": the System needs a periodic box with positive volume");
    for (int i = 0; i < system.getNumForces(); i++) {
        const Force& other = system.getForce(i);
        const NonbondedForce* nonbonded = dynamic_cast<const NonbondedForce*>(&other);
        const CustomNonbondedForce* custom = dynamic_cast<const CustomNonbondedForce*>(&other);
        bool nonPeriodic = (nonbonded != nullptr && !nonbonded->usesPeriodicBoundaryConditions()) ||
                           (custom != nullptr && !custom->usesPeriodicBoundaryConditions());
        if (nonPeriodic)
            throw OpenMMException(forceName + ": the System is not periodic (force " + to_string(i) + ", " +
                    other.getName() + ", uses a non-periodic method); " + forceName + " needs periodic boundary conditions");
    }
}

void SOGForceImpl::validate(const SOGForce& force, const System& system) {
    if (force.getNumParticles() != system.getNumParticles())
        throw OpenMMException("SOGForce: the force has " + to_string(force.getNumParticles()) +
                " particles but the System has " + to_string(system.getNumParticles()));
    validatePeriodicSystem(system, "SOGForce");
    validateKernel(force, "SOGForce");
    int numChannels = force.getNumChannels();
    vector<double> charges;
    for (int i = 0; i < force.getNumParticles(); i++) {
        force.getParticleCharges(i, charges);
        if ((int) charges.size() != numChannels)
            throw OpenMMException("SOGForce: particle " + to_string(i) + " has " + to_string(charges.size()) +
                    " charges but the force has " + to_string(numChannels) + " channels");
        for (double q : charges)
            if (!isfinite(q))
                throw OpenMMException("SOGForce: particle " + to_string(i) + " has a non-finite charge");
    }
    for (int particle : force.getScaledParticles())
        if (particle < 0 || particle >= force.getNumParticles())
            throw OpenMMException("SOGForce: scaled particle index " + to_string(particle) + " is out of range");
    if (!isfinite(force.getChargeScaleDefaultValue()))
        throw OpenMMException("SOGForce: the default value of the charge scale parameter is not finite");
    for (int c = 0; c < numChannels; c++)
        if (!isfinite(force.getBackgroundIntegral(c)))
            throw OpenMMException("SOGForce: the background integral of channel " + to_string(c) + " is not finite");
}

void SOGForceImpl::validateParameterUpdate(const SOGForce& force, const System& system, int numParticles,
        int numGaussians, double tolerance, double minWidth) {
    if (force.getNumParticles() != numParticles)
        throw OpenMMException("SOGForce: updateParametersInContext() cannot change the number of particles");
    if (force.getNumGaussians() != numGaussians)
        throw OpenMMException("SOGForce: updateParametersInContext() cannot change the number of Gaussians");
    if (force.getTolerance() != tolerance)
        throw OpenMMException("SOGForce: updateParametersInContext() cannot change the tolerance; call Context.reinitialize()");
    validate(force, system);
    if (findMinimumWidth(force) < minWidth)
        throw OpenMMException("SOGForce: updateParametersInContext() cannot make the smallest width smaller than when "
                "the Context was created (the grid depends on it); call Context.reinitialize()");
}

vector<int> SOGForceImpl::findScaledParticles(const SOGForce& force) {
    const vector<int>& scaled = force.getScaledParticles();
    vector<int> flags(force.getNumParticles(), scaled.empty() ? 1 : 0);
    for (int particle : scaled)
        flags[particle] = 1;
    return flags;
}

vector<double> SOGForceImpl::getBackgroundIntegrals(const SOGForce& force) {
    vector<double> integrals(force.getNumChannels());
    for (int c = 0; c < force.getNumChannels(); c++)
        integrals[c] = force.getBackgroundIntegral(c);
    return integrals;
}

double SOGForceImpl::calcBackgroundEnergy(const vector<double>& integrals, const vector<double>& scaledCharge,
        const vector<double>& unscaledCharge, double scale, double volume, double& derivative) {
    double energy = 0.0;
    derivative = 0.0;
    for (int c = 0; c < (int) integrals.size(); c++) {
        if (integrals[c] == 0.0)
            continue;
        double total = scale*scaledCharge[c] + unscaledCharge[c];
        energy -= integrals[c]*total*total/(2*volume);
        derivative -= integrals[c]*total*scaledCharge[c]/volume;
    }
    return energy;
}

void SOGForceImpl::initialize(ContextImpl& context) {
    validate(owner, context.getSystem());
    kernel = context.getPlatform().createKernel(CalcSOGForceKernel::Name(), context);
    kernel.getAs<CalcSOGForceKernel>().initialize(context.getSystem(), owner);
}

double SOGForceImpl::calcForcesAndEnergy(ContextImpl& context, bool includeForces, bool includeEnergy, int groups) {
    if ((groups & (1 << owner.getForceGroup())) != 0)
        return kernel.getAs<CalcSOGForceKernel>().execute(context, includeForces, includeEnergy);
    return 0.0;
}

map<string, double> SOGForceImpl::getDefaultParameters() {
    map<string, double> parameters;
    parameters[owner.getChargeScaleParameterName()] = owner.getChargeScaleDefaultValue();
    return parameters;
}

vector<string> SOGForceImpl::getKernelNames() {
    return {CalcSOGForceKernel::Name()};
}

void SOGForceImpl::updateParametersInContext(ContextImpl& context) {
    kernel.getAs<CalcSOGForceKernel>().copyParametersToContext(context, owner);
    context.systemChanged();
}

double SOGForceImpl::calcKCutoff(double tolerance, double minWidth) {
    return (2.0/minWidth)*sqrt(log(10.0/tolerance));
}

int SOGForceImpl::calcSpreadWidth(double tolerance) {
    // Forces use the kernel's derivative, which is less accurate than the kernel itself: the
    // NUFFT aims at 0.03 tol (the same rule as the torch layer, openmm_sog.SOGLongRange).
    int width = (int) ceil(-log10(0.03*tolerance)) + 2;
    return max(4, min(16, width));
}

double SOGForceImpl::calcKaiserBesselBeta(int spreadWidth) {
    double x = 0.75*spreadWidth;
    return M_PI*sqrt(x*x - 0.8);
}

void SOGForceImpl::calcMaxModes(const Vec3* boxVectors, double kCutoff, int maxMode[3]) {
    for (int d = 0; d < 3; d++)
        maxMode[d] = (int) floor(kCutoff*sqrt(boxVectors[d].dot(boxVectors[d]))/(2*M_PI));
}

void SOGForceImpl::calcReciprocalBox(const Vec3* boxVectors, double kCutoff, const int gridSize[3], Vec3 recip[3],
        double& volume, int maxMode[3]) {
    const Vec3 &a = boxVectors[0], &b = boxVectors[1], &c = boxVectors[2];
    volume = a.dot(b.cross(c));
    recip[0] = b.cross(c)/volume;
    recip[1] = c.cross(a)/volume;
    recip[2] = a.cross(b)/volume;
    calcMaxModes(boxVectors, kCutoff, maxMode);
    for (int d = 0; d < 3; d++)
        if (2*(2*maxMode[d] + 1) > gridSize[d])
            throw OpenMMException("SOGForce: the periodic box grew more than the grid chosen at Context creation allows; "
                    "call Context.reinitialize(preserveState=True)");
}

int SOGForceImpl::findFFTSize(int minimum) {
    for (int size = max(2, minimum + (minimum % 2)); ; size += 2) {
        int remainder = size;
        for (int factor : {2, 3, 5})
            while (remainder % factor == 0)
                remainder /= factor;
        if (remainder == 1)
            return size;
    }
}

SOGGridParameters SOGForceImpl::calcGridParameters(const Vec3* boxVectors, double tolerance, double minWidth,
        double growthAllowance) {
    SOGGridParameters params;
    params.kCutoff = calcKCutoff(tolerance, minWidth);
    params.spreadWidth = calcSpreadWidth(tolerance);
    params.beta = calcKaiserBesselBeta(params.spreadWidth);
    Vec3 grownBox[3];
    for (int d = 0; d < 3; d++)
        grownBox[d] = boxVectors[d]*(1.0 + growthAllowance);
    int maxMode[3];
    calcMaxModes(grownBox, params.kCutoff, maxMode);
    for (int d = 0; d < 3; d++)
        params.gridSize[d] = findFFTSize(max(2*(2*maxMode[d] + 1), 2*params.spreadWidth));
    return params;
}

/*
 * I0(x) - 1 and I1(x)/x from their power series: every term is positive, so the sums are accurate
 * to round-off for the arguments used here (x <= beta < 40), and much faster than
 * std::cyl_bessel_i. The engines evaluate the weights as polynomials fitted to these series
 * (SOGSpreadingKernel).
 */
static double besselI0MinusOne(double x) {
    const double y = 0.25*x*x;
    double term = 1.0, sum = 0.0;
    for (int k = 1; k < 200; k++) {
        term *= y/((double) k*k);
        sum += term;
        if (term <= sum*1e-17)
            break;
    }
    return sum;
}

static double besselI1OverX(double x) {
    const double y = 0.25*x*x;
    double term = 0.5, sum = 0.5;
    for (int k = 1; k < 200; k++) {
        term *= y/((double) k*(k+1));
        sum += term;
        if (term <= sum*1e-17)
            break;
    }
    return sum;
}

double SOGForceImpl::calcKernelValue(double z, double beta) {
    if (fabs(z) >= 1.0)
        return 0.0;
    return besselI0MinusOne(beta*sqrt(1.0 - z*z));
}

double SOGForceImpl::calcKernelDerivative(double z, double beta) {
    if (fabs(z) >= 1.0)
        return 0.0;
    // d/dz I0(beta t) = beta I1(beta t) dt/dz with t = sqrt(1-z^2), dt/dz = -z/t.
    return -beta*beta*z*besselI1OverX(beta*sqrt(1.0 - z*z));
}

double SOGForceImpl::calcKernelTransform(double omega, double beta) {
    double u = sqrt(beta*beta - omega*omega);
    double sincTerm = (fabs(omega) < 1e-12 ? 1.0 : sin(omega)/omega);
    return 2.0*sinh(u)/u - 2.0*sincTerm;
}
