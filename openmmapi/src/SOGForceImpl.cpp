#include "internal/SOGForceImpl.h"
#include "SOGKernels.h"
#include "openmm/CustomNonbondedForce.h"
#include "openmm/NonbondedForce.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ContextImpl.h"
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <set>
#include <sstream>
#ifndef _WIN32
#include <unistd.h>
#endif

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
    // The charges at the default value of the charge scale parameter (evaluations check the current value).
    vector<int> scaled = findScaledParticles(force);
    vector<double> scaledAbs(numChannels, 0.0), unscaledAbs(numChannels, 0.0);
    for (int i = 0; i < force.getNumParticles(); i++) {
        force.getParticleCharges(i, charges);
        for (int c = 0; c < numChannels; c++)
            (scaled[i] ? scaledAbs : unscaledAbs)[c] += fabs(charges[c]);
    }
    checkScaledCharges("SOGForce", force.getChargeScaleParameterName(), force.getChargeScaleDefaultValue(), scaledAbs,
            unscaledAbs, calcWeightSums(force));
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

void SOGForceImpl::checkChargeMagnitude(const string& forceName, const vector<double>& absCharge,
        const vector<double>& weightSums) {
    double energyScale = 0.0;
    for (int c = 0; c < (int) absCharge.size(); c++) {
        if (!(absCharge[c] <= maxChargeSum)) {
            stringstream message;
            message << forceName << ": the charges of channel " << c << " are too large: sum_i |q_i| = " << absCharge[c] <<
                    " e (with the charge scale applied), above the limit of " << maxChargeSum << " e, where the energy would "
                    "overflow. Charges are in units of the proton charge";
            throw OpenMMException(message.str());
        }
        energyScale += absCharge[c]*absCharge[c]*weightSums[c];
    }
    if (!(energyScale <= maxEnergyScale)) {
        stringstream message;
        message << forceName << ": the charges and weights are too large: the energy scale sum_c (sum_i |q_ic|)^2 sum_l |w_cl| = " <<
                energyScale << " kJ/mol is above the limit of " << maxEnergyScale << " kJ/mol, where the energy would overflow. "
                "Charges are in units of the proton charge, weights in kJ/mol/e^2";
        throw OpenMMException(message.str());
    }
}

void SOGForceImpl::checkChargeScale(const string& forceName, const string& name, double value) {
    if (!isfinite(value))
        throw OpenMMException(forceName + ": the charge scale parameter '" + name + "' is " + to_string(value) +
                "; it must be finite (set it with Context.setParameter())");
}

void SOGForceImpl::checkScaledCharges(const string& forceName, const string& scaleName, double scale,
        const vector<double>& scaledAbs, const vector<double>& unscaledAbs, const vector<double>& weightSums) {
    checkChargeScale(forceName, scaleName, scale);
    vector<double> absCharge(scaledAbs.size());
    for (int c = 0; c < (int) absCharge.size(); c++)
        absCharge[c] = fabs(scale)*scaledAbs[c] + unscaledAbs[c];
    checkChargeMagnitude(forceName, absCharge, weightSums);
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

void SOGForceImpl::getGridParameters(double& kCutoff, int& spreadWidth, int gridSize[3]) const {
    kernel.getAs<const CalcSOGForceKernel>().getGridParameters(kCutoff, spreadWidth, gridSize);
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

bool SOGForceImpl::useSinglePrecisionHostGrid(const string& platformName, double tolerance) {
    return (platformName == "CPU" && tolerance >= 1e-4);
}

bool SOGForceImpl::readDefaultChoice(const string& forceName, const string& variable, const string& defaultValue,
        const string& otherValue) {
    const char* value = getenv(variable.c_str());
    if (value == nullptr || string(value) == "" || string(value) == defaultValue)
        return true;
    if (string(value) == otherValue)
        return false;
    throw OpenMMException(forceName + ": " + variable + " must be '" + defaultValue + "' (the default) or '" + otherValue +
            "', got '" + string(value) + "'");
}

SOGNufftRule SOGForceImpl::getNufftRule(double tolerance) {
    return (nufftErrorShare*tolerance >= coarseGridMinTolerance ? coarseGridRule : fineGridRule);
}

int SOGForceImpl::calcSpreadWidth(double tolerance) {
    // Measured with the rule's beta (docs/design.md section 2.4): the NUFFT's force error
    // relative to the force norm is at most 10^(errorOffset - w). The NUFFT gets
    // nufftErrorShare of the tolerance (the same rule as the torch layer,
    // openmm_sog.nufft.kernel_width_from_tolerance).
    int width = (int) ceil(getNufftRule(tolerance).errorOffset - log10(nufftErrorShare*tolerance));
    return max(minSpreadWidth, min(maxSpreadWidth, width));
}

double SOGForceImpl::calcKaiserBesselBeta(double tolerance, int spreadWidth) {
    return getNufftRule(tolerance).betaPerPoint*spreadWidth;
}

/*
 * K_d = floor(k_cut |a_d| / 2 pi) in double precision; boxes and widths that would need more
 * modes than any grid can hold are clamped here (the planner refuses them with a message).
 */
static double calcMaxModeValue(const Vec3& boxVector, double kCutoff) {
    return floor(kCutoff*sqrt(boxVector.dot(boxVector))/(2*M_PI));
}

void SOGForceImpl::calcMaxModes(const Vec3* boxVectors, double kCutoff, int maxMode[3]) {
    const double largest = (double) (1 << 28);
    for (int d = 0; d < 3; d++)
        maxMode[d] = (int) min(calcMaxModeValue(boxVectors[d], kCutoff), largest);
}

/* The fewest grid points along a box vector that hold its modes: ceil(upsampling (2 K_d + 1)). */
static double calcModeGridSize(const Vec3& boxVector, double kCutoff, double upsampling) {
    return ceil(upsampling*(2.0*calcMaxModeValue(boxVector, kCutoff) + 1.0));
}

bool SOGForceImpl::gridHoldsModes(const Vec3* boxVectors, double kCutoff, double upsampling, const int gridSize[3]) {
    for (int d = 0; d < 3; d++)
        if (calcModeGridSize(boxVectors[d], kCutoff, upsampling) > gridSize[d])
            return false;
    return true;
}

void SOGForceImpl::calcReciprocalBox(const string& forceName, const Vec3* boxVectors, double kCutoff,
        double upsampling, const int gridSize[3], Vec3 recip[3], double& volume, int maxMode[3]) {
    const Vec3 &a = boxVectors[0], &b = boxVectors[1], &c = boxVectors[2];
    volume = a.dot(b.cross(c));
    recip[0] = b.cross(c)/volume;
    recip[1] = c.cross(a)/volume;
    recip[2] = a.cross(b)/volume;
    if (!gridHoldsModes(boxVectors, kCutoff, upsampling, gridSize))
        throw OpenMMException(forceName + ": the periodic box grew more than the grid in use allows");
    calcMaxModes(boxVectors, kCutoff, maxMode);
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

double SOGForceImpl::getPhysicalMemory() {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGE_SIZE)
    long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && pageSize > 0)
        return (double) pages*(double) pageSize;
#endif
    return 0.0;
}

void SOGForceImpl::checkGridSize(const SOGGridRequest& request, const Vec3* boxVectors, const double gridSize[3]) {
    const double points = gridSize[0]*gridSize[1]*gridSize[2];
    const double bytes = points*request.numChannels*request.bytesPerGridPoint;
    const double memory = (request.memoryBytes > 0 ? request.memoryBytes : getPhysicalMemory());
    const double memoryLimit = (memory > 0 ? maxGridMemoryFraction*memory : INFINITY);
    if (points <= maxGridPointsPerChannel && bytes <= memoryLimit)
        return;
    const double GiB = 1024.0*1024.0*1024.0;
    stringstream message;
    message << setprecision(3) << request.forceName << ": Gaussian " << request.narrowestIndex << " (width " <<
            request.minWidth << " nm, channel " << request.narrowestChannel << "), the narrowest, needs a " <<
            fixed << setprecision(0) << gridSize[0] << " x " << gridSize[1] << " x " << gridSize[2] <<
            defaultfloat << setprecision(3) << " FFT grid for tolerance " << request.tolerance << " in a " <<
            sqrt(boxVectors[0].dot(boxVectors[0])) << " x " << sqrt(boxVectors[1].dot(boxVectors[1])) << " x " <<
            sqrt(boxVectors[2].dot(boxVectors[2])) << " nm box: " << points << " points per channel, " << bytes/GiB <<
            " GiB for " << request.numChannels << " channel(s). The limit is " << maxGridPointsPerChannel <<
            " points per channel and " << maxGridMemoryFraction << " of the memory (";
    if (memory > 0)
        message << memoryLimit/GiB << " of " << memory/GiB << " GiB). ";
    else
        message << "unknown). ";
    // Where this Gaussian falls below the tolerance: a real-space cutoff for it.
    const double cutoff = request.minWidth*sqrt(log(10.0/request.tolerance));
    const double volume = fabs(boxVectors[0].dot(boxVectors[1].cross(boxVectors[2])));
    double halfThickness = INFINITY;
    for (int d = 0; d < 3; d++) {
        Vec3 normal = boxVectors[(d+1)%3].cross(boxVectors[(d+2)%3]);
        halfThickness = min(halfThickness, 0.5*volume/sqrt(normal.dot(normal)));
    }
    if (cutoff < halfThickness)
        message << "Sum Gaussians this narrow in real space instead (for example in a CustomNonbondedForce with a "
                "cutoff of " << cutoff << " nm, beyond which this one is below the tolerance), or use a looser tolerance";
    else
        message << "Use a looser tolerance or a smaller box";
    throw OpenMMException(message.str());
}

SOGGridParameters SOGForceImpl::calcGridParameters(const Vec3* boxVectors, const SOGGridRequest& request,
        double growthAllowance) {
    SOGGridParameters params;
    params.kCutoff = calcKCutoff(request.tolerance, request.minWidth);
    params.spreadWidth = calcSpreadWidth(request.tolerance);
    params.beta = calcKaiserBesselBeta(request.tolerance, params.spreadWidth);
    params.upsampling = getNufftRule(request.tolerance).upsampling;
    // The smallest grid in double precision first: it is checked before any size becomes an int.
    double minimumSize[3];
    for (int d = 0; d < 3; d++) {
        Vec3 grown = boxVectors[d]*(1.0 + growthAllowance);
        minimumSize[d] = max(calcModeGridSize(grown, params.kCutoff, params.upsampling), 2.0*params.spreadWidth);
    }
    checkGridSize(request, boxVectors, minimumSize);
    double size[3];
    for (int d = 0; d < 3; d++) {
        params.gridSize[d] = findFFTSize((int) minimumSize[d]);
        size[d] = params.gridSize[d];
    }
    checkGridSize(request, boxVectors, size);
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
