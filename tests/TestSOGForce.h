/*
 * Shared body of the SOGForce tests. Each platform's Test<Platform>SOGForce.cpp defines
 * initializeTests() (sets `platform`) and runPlatformTests(), and includes this file.
 *
 * Oracle: the direct lattice sum 1/2 sum'_{i,j,n} q_i q_j g(|r_i - r_j + n h|) - Q^2 ghat(0)/(2V)
 * (sum' leaves out i = j, n = 0), which converges fast for Gaussians.
 *
 * Tolerances: the force is run at tolerance 1e-8 and compared at 1e-6 relative (energy, with a
 * floor of 1 kJ/mol as ASSERT_EQUAL_TOL does; forces relative to the RMS force). In double
 * precision the NUFFT errors are two orders of magnitude below the request, so 1e-6 leaves room
 * without hiding a wrong term (a missing mode or a wrong deconvolution gives errors >1e-3).
 */
#include "SOGForce.h"
#include "internal/SOGForceImpl.h"
#include "openmm/Context.h"
#include "openmm/OpenMMException.h"
#include "openmm/Platform.h"
#include "openmm/State.h"
#include "openmm/System.h"
#include "openmm/VerletIntegrator.h"
#include "openmm/internal/AssertionUtilities.h"
#include "sfmt/SFMT.h"
#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

static Platform* platform = nullptr;

void initializeTests(int argc, char* argv[]);
void runPlatformTests();

// Defaults for double precision; initializeTests() may loosen them for single precision.
static const double requestedTolerance = 1e-8;
static double checkTolerance = 1e-6;
static double finiteDifferenceTolerance = 1e-5;
static double derivativeTolerance = 1e-6;
// In single precision the energy is the small difference of the k-space sum and the self term
// (each ~100x larger here), and round-off acts on those: compare on the scale of the self term.
static bool compareEnergyOnSelfScale = false;

/**
 * Sets the GPU platform's precision (single, mixed or double, from the first argument) and the
 * check tolerances that go with it.
 */
static void setPrecision(Platform& gpuPlatform, int argc, char* argv[]) {
    string precision = (argc > 1 ? argv[1] : "single");
    gpuPlatform.setPropertyDefaultValue("Precision", precision);
    if (precision != "double") {
        // Single-precision positions, weights and FFTs: the achievable relative error is set by
        // float round-off (~1e-7) amplified by the sums over grid points and modes, not by the
        // requested tolerance.
        checkTolerance = 1e-4;
        compareEnergyOnSelfScale = true;
        finiteDifferenceTolerance = 2e-2;
        derivativeTolerance = 2e-3;
    }
}

struct TestGaussian {
    double weight, width;
    int channel;
};

/**
 * The direct lattice sum. charges has entry i*P+c. Returns the energy (kJ/mol) and fills forces
 * (kJ/mol/nm).
 */
static double directLatticeSum(const vector<Vec3>& positions, const Vec3* box, const vector<double>& charges, int P,
        const vector<TestGaussian>& gaussians, vector<Vec3>& forces) {
    const int N = positions.size();
    const double volume = box[0].dot(box[1].cross(box[2]));
    double maxWidth = 0.0;
    for (const TestGaussian& g : gaussians)
        maxWidth = max(maxWidth, g.width);
    const double cutoff = maxWidth*sqrt(45.0); // exp(-45) ~ 3e-20
    int maxImage[3];
    for (int d = 0; d < 3; d++) {
        double thickness = volume/sqrt(box[(d+1)%3].cross(box[(d+2)%3]).dot(box[(d+1)%3].cross(box[(d+2)%3])));
        maxImage[d] = (int) ceil(cutoff/thickness) + 1;
    }
    forces.assign(N, Vec3());
    double energy = 0.0;
    for (int c = 0; c < P; c++) {
        double totalCharge = 0.0;
        for (int i = 0; i < N; i++)
            totalCharge += charges[i*P + c];
        for (const TestGaussian& g : gaussians) {
            if (g.channel != c)
                continue;
            energy -= totalCharge*totalCharge*g.weight*pow(M_PI, 1.5)*pow(g.width, 3)/(2*volume);
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++)
                    for (int nx = -maxImage[0]; nx <= maxImage[0]; nx++)
                        for (int ny = -maxImage[1]; ny <= maxImage[1]; ny++)
                            for (int nz = -maxImage[2]; nz <= maxImage[2]; nz++) {
                                if (i == j && nx == 0 && ny == 0 && nz == 0)
                                    continue;
                                Vec3 delta = positions[i] - positions[j] + box[0]*nx + box[1]*ny + box[2]*nz;
                                double r2 = delta.dot(delta);
                                if (r2 > cutoff*cutoff)
                                    continue;
                                double term = charges[i*P + c]*charges[j*P + c]*g.weight*exp(-r2/(g.width*g.width));
                                energy += 0.5*term;
                                forces[i] += delta*(2.0*term/(g.width*g.width));
                            }
        }
    }
    return energy;
}

/**
 * 1/2 sum_c |g_c(0)| sum_i q_ic^2, the magnitude of the self term (kJ/mol).
 */
static double selfTermMagnitude(const vector<double>& charges, int P, const vector<TestGaussian>& gaussians) {
    double sum = 0.0;
    for (const TestGaussian& g : gaussians)
        for (int i = g.channel; i < (int) charges.size(); i += P)
            sum += 0.5*g.weight*charges[i]*charges[i];
    return fabs(sum);
}

static void assertEnergy(double expected, double found, const vector<double>& charges, int P, const vector<TestGaussian>& gaussians) {
    double scale = max(1.0, fabs(expected));
    if (compareEnergyOnSelfScale)
        scale = max(scale, selfTermMagnitude(charges, P, gaussians));
    ASSERT_EQUAL_TOL(expected/scale, found/scale, checkTolerance);
}

static void makeBox(bool triclinic, Vec3* box) {
    if (triclinic) {
        // OpenMM reduced form: a along x, b in the xy plane, |b_x| <= a_x/2, |c_x| <= a_x/2, |c_y| <= b_y/2.
        box[0] = Vec3(2.2, 0, 0);
        box[1] = Vec3(0.6, 2.0, 0);
        box[2] = Vec3(-0.9, 0.7, 1.9);
    }
    else {
        box[0] = Vec3(2.1, 0, 0);
        box[1] = Vec3(0, 2.1, 0);
        box[2] = Vec3(0, 0, 2.1);
    }
}

/**
 * A random test system and what the oracle needs to know about it. The System owns the force.
 */
struct TestSystem {
    System system;
    SOGForce* force;
    vector<Vec3> positions;
    vector<double> charges;           // entry i*P+c, proton charges
    vector<TestGaussian> gaussians;
};

/**
 * Build a random test system: numParticles particles with P channels, two or three Gaussians
 * per channel with widths 0.25-0.6 nm. Neutral systems have zero total charge per channel.
 */
static void makeSystem(TestSystem& t, int numParticles, int P, bool triclinic, bool neutral, unsigned seed = 5) {
    OpenMM_SFMT::SFMT sfmt;
    init_gen_rand(seed, sfmt);
    Vec3 box[3];
    makeBox(triclinic, box);
    t.system.setDefaultPeriodicBoxVectors(box[0], box[1], box[2]);
    t.force = new SOGForce(P);
    t.force->setTolerance(requestedTolerance);
    t.gaussians.clear();
    for (int c = 0; c < P; c++) {
        t.gaussians.push_back({100.0*(1 + c), 0.25 + 0.05*c, c});
        t.gaussians.push_back({-40.0, 0.6, c});
        if (c == 0)
            t.gaussians.push_back({30.0, 0.4, c});
    }
    for (const TestGaussian& g : t.gaussians)
        t.force->addGaussian(g.weight, g.width, g.channel);
    t.charges.assign(numParticles*P, 0.0);
    for (int i = 0; i < numParticles; i++)
        for (int c = 0; c < P; c++)
            t.charges[i*P + c] = 2*genrand_real2(sfmt) - 1;
    if (neutral)
        for (int c = 0; c < P; c++) {
            double mean = 0.0;
            for (int i = 0; i < numParticles; i++)
                mean += t.charges[i*P + c]/numParticles;
            for (int i = 0; i < numParticles; i++)
                t.charges[i*P + c] -= mean;
        }
    t.positions.resize(numParticles);
    for (int i = 0; i < numParticles; i++) {
        t.system.addParticle(1.0);
        vector<double> q(t.charges.begin() + i*P, t.charges.begin() + (i+1)*P);
        t.force->addParticle(q);
        // Fractional coordinates in [-0.2, 1.2): some particles lie outside the home cell.
        t.positions[i] = box[0]*(1.4*genrand_real2(sfmt) - 0.2) + box[1]*(1.4*genrand_real2(sfmt) - 0.2) +
                box[2]*(1.4*genrand_real2(sfmt) - 0.2);
    }
    t.system.addForce(t.force);
}

static double rmsNorm(const vector<Vec3>& v) {
    double sum = 0.0;
    for (const Vec3& x : v)
        sum += x.dot(x);
    return sqrt(sum/v.size());
}

void testAgainstDirectSum(int P, bool triclinic, bool neutral) {
    TestSystem t;
    makeSystem(t, 20, P, triclinic, neutral);
    VerletIntegrator integrator(0.001);
    Context context(t.system, integrator, *platform);
    context.setPositions(t.positions);
    State state = context.getState(State::Energy | State::Forces);
    Vec3 box[3];
    makeBox(triclinic, box);
    vector<Vec3> expectedForces;
    double expectedEnergy = directLatticeSum(t.positions, box, t.charges, P, t.gaussians, expectedForces);
    assertEnergy(expectedEnergy, state.getPotentialEnergy(), t.charges, P, t.gaussians);
    double scale = rmsNorm(expectedForces);
    for (int i = 0; i < (int) t.positions.size(); i++)
        ASSERT_EQUAL_VEC(expectedForces[i]/scale, state.getForces()[i]/scale, checkTolerance);
}

void testFiniteDifference() {
    TestSystem t;
    makeSystem(t, 12, 2, true, false, 11);
    VerletIntegrator integrator(0.001);
    Context context(t.system, integrator, *platform);
    context.setPositions(t.positions);
    State state = context.getState(State::Forces);
    // Move all particles along the t.force direction; -dE/dx = |F|^2 along it.
    double norm = 0.0;
    for (const Vec3& f : state.getForces())
        norm += f.dot(f);
    norm = sqrt(norm);
    const double step = 1e-4;
    vector<Vec3> displaced(t.positions);
    double energies[2];
    for (int sign = 0; sign < 2; sign++) {
        double delta = (sign == 0 ? step : -step);
        for (int i = 0; i < (int) t.positions.size(); i++)
            displaced[i] = t.positions[i] + state.getForces()[i]*(delta/norm);
        context.setPositions(displaced);
        energies[sign] = context.getState(State::Energy).getPotentialEnergy();
    }
    ASSERT_EQUAL_TOL(norm, (energies[1] - energies[0])/(2*step), finiteDifferenceTolerance);
}

void testChargeScale() {
    TestSystem t;
    makeSystem(t, 16, 2, false, false, 17);
    t.force->setChargeScaleParameterName("lambda_q");
    t.force->setChargeScaleDefaultValue(0.7);
    vector<int> scaled = {1, 4, 5, 9};
    t.force->setScaledParticles(scaled);
    t.force->addEnergyParameterDerivative("lambda_q");
    VerletIntegrator integrator(0.001);
    Context context(t.system, integrator, *platform);
    context.setPositions(t.positions);
    ASSERT_EQUAL(0.7, context.getParameter("lambda_q"));
    // Energy with lambda = 0.7 equals the direct sum with the scaled t.charges.
    vector<double> scaledCharges(t.charges);
    for (int i : scaled)
        for (int c = 0; c < 2; c++)
            scaledCharges[i*2 + c] *= 0.7;
    Vec3 box[3];
    makeBox(false, box);
    vector<Vec3> expectedForces;
    double expected = directLatticeSum(t.positions, box, scaledCharges, 2, t.gaussians, expectedForces);
    State state = context.getState(State::Energy | State::ParameterDerivatives);
    assertEnergy(expected, state.getPotentialEnergy(), scaledCharges, 2, t.gaussians);
    double derivative = state.getEnergyParameterDerivatives().at("lambda_q");
    const double h = 0.25; // E is quadratic in lambda: any step is exact up to round-off, a large one keeps that small
    context.setParameter("lambda_q", 0.7 + h);
    double ePlus = context.getState(State::Energy).getPotentialEnergy();
    context.setParameter("lambda_q", 0.7 - h);
    double eMinus = context.getState(State::Energy).getPotentialEnergy();
    ASSERT_EQUAL_TOL((ePlus - eMinus)/(2*h), derivative, derivativeTolerance);
}

void testUpdateParameters() {
    TestSystem t;
    makeSystem(t, 10, 1, true, true, 23);
    VerletIntegrator integrator(0.001);
    Context context(t.system, integrator, *platform);
    context.setPositions(t.positions);
    for (int i = 0; i < 10; i++) {
        t.charges[i] *= -1.5 + 0.1*i;
        t.force->setParticleCharges(i, {t.charges[i]});
    }
    t.gaussians[0].weight = 2.5;
    t.force->setGaussianParameters(0, t.gaussians[0].weight, t.gaussians[0].width, t.gaussians[0].channel);
    t.force->updateParametersInContext(context);
    Vec3 box[3];
    makeBox(true, box);
    vector<Vec3> expectedForces;
    double expected = directLatticeSum(t.positions, box, t.charges, 1, t.gaussians, expectedForces);
    assertEnergy(expected, context.getState(State::Energy).getPotentialEnergy(), t.charges, 1, t.gaussians);
}

/**
 * The net-charge background E_bg = -sum_c B_c Q_c^2/(2V) of setBackgroundIntegral(): switching
 * it on changes the energy by exactly that (Q_c with the charge scale applied to the scaled
 * particles), it follows the volume, and dE/dlambda includes its derivative (against a central
 * difference, exact for an energy quadratic in lambda).
 */
void testBackgroundIntegral() {
    TestSystem t;
    makeSystem(t, 12, 2, true, false, 37);
    const double lambda = 0.3;
    vector<int> scaled = {0, 3, 4, 7};
    t.force->setScaledParticles(scaled);
    t.force->setChargeScaleDefaultValue(lambda);
    t.force->addEnergyParameterDerivative(t.force->getChargeScaleParameterName());
    VerletIntegrator integrator(0.001);
    Context context(t.system, integrator, *platform);
    context.setPositions(t.positions);
    const double integrals[2] = {-3.5, 1.25}; // kJ/mol nm^3/e^2
    vector<double> total(2, 0.0);
    for (int i = 0; i < 12; i++) {
        bool isScaled = (find(scaled.begin(), scaled.end(), i) != scaled.end());
        for (int c = 0; c < 2; c++)
            total[c] += t.charges[i*2 + c]*(isScaled ? lambda : 1.0);
    }
    Vec3 box[3];
    makeBox(true, box);
    for (double factor : {1.0, 1.05}) {
        Vec3 scaledBox[3] = {box[0]*factor, box[1]*factor, box[2]*factor};
        vector<Vec3> scaledPositions(t.positions);
        for (Vec3& r : scaledPositions)
            r *= factor;
        context.setPeriodicBoxVectors(scaledBox[0], scaledBox[1], scaledBox[2]);
        context.setPositions(scaledPositions);
        double energies[2];
        for (int on = 0; on < 2; on++) {
            for (int c = 0; c < 2; c++)
                t.force->setBackgroundIntegral(on ? integrals[c] : 0.0, c);
            t.force->updateParametersInContext(context);
            energies[on] = context.getState(State::Energy).getPotentialEnergy();
        }
        const double volume = scaledBox[0].dot(scaledBox[1].cross(scaledBox[2]));
        double expected = 0.0;
        for (int c = 0; c < 2; c++)
            expected -= integrals[c]*total[c]*total[c]/(2*volume);
        // The rest of the energy is the same computation twice: the difference is the background
        // term up to the round-off of the total.
        if (!(fabs(energies[1] - energies[0] - expected) <= 1e-10*max(1.0, fabs(energies[0]))))
            throwException(__FILE__, __LINE__, "background energy " + to_string(energies[1] - energies[0]) +
                    ", expected " + to_string(expected));
    }
    double derivative = context.getState(State::ParameterDerivatives).getEnergyParameterDerivatives().at("sog_lambda");
    const double h = 0.25;
    context.setParameter("sog_lambda", lambda + h);
    double ePlus = context.getState(State::Energy).getPotentialEnergy();
    context.setParameter("sog_lambda", lambda - h);
    double eMinus = context.getState(State::Energy).getPotentialEnergy();
    ASSERT_EQUAL_TOL((ePlus - eMinus)/(2*h), derivative, derivativeTolerance);
}

/**
 * The box may change between evaluations (barostats): results follow the new box. Every engine
 * chooses a larger grid when the box needs more modes than its grid holds (the device grids
 * have 10 % room, so 1.3 re-plans them), and keeps it when the box shrinks again.
 */
void testBoxChange() {
    TestSystem t;
    makeSystem(t, 12, 1, true, false, 29);
    VerletIntegrator integrator(0.001);
    Context context(t.system, integrator, *platform);
    Vec3 box[3];
    makeBox(true, box);
    for (double factor : {0.93, 1.06, 1.3, 1.0}) {
        Vec3 scaledBox[3] = {box[0]*factor, box[1]*factor, box[2]*factor};
        vector<Vec3> scaledPositions(t.positions);
        for (Vec3& r : scaledPositions)
            r *= factor;
        context.setPeriodicBoxVectors(scaledBox[0], scaledBox[1], scaledBox[2]);
        context.setPositions(scaledPositions);
        vector<Vec3> expectedForces;
        double expected = directLatticeSum(scaledPositions, scaledBox, t.charges, 1, t.gaussians, expectedForces);
        State state = context.getState(State::Energy | State::Forces);
        assertEnergy(expected, state.getPotentialEnergy(), t.charges, 1, t.gaussians);
        double scale = rmsNorm(expectedForces);
        for (int i = 0; i < (int) t.positions.size(); i++)
            ASSERT_EQUAL_VEC(expectedForces[i]/scale, state.getForces()[i]/scale, checkTolerance);
    }
}

/**
 * A grid too large for memory is refused with a message naming the Gaussian, the grid and the
 * memory, before anything is allocated (width 5e-4 nm in a 3 nm box would need 30720^3 points).
 */
void testGridTooLarge() {
    System system;
    system.setDefaultPeriodicBoxVectors(Vec3(3, 0, 0), Vec3(0, 3, 0), Vec3(0, 0, 3));
    SOGForce* force = new SOGForce(1);
    force->addGaussian(100.0, 0.3);
    force->addGaussian(100.0, 5e-4);
    force->setTolerance(1e-6);
    for (int i = 0; i < 2; i++) {
        system.addParticle(1.0);
        force->addParticle({i == 0 ? 1.0 : -1.0});
    }
    system.addForce(force);
    VerletIntegrator integrator(0.001);
    string message;
    try {
        Context context(system, integrator, *platform);
    }
    catch (const OpenMMException& e) {
        message = e.what();
    }
    for (const string& part : {"SOGForce: Gaussian 1 (width 0.0005 nm, channel 0)", " x ", "GiB", "real space"})
        if (message.find(part) == string::npos)
            throwException(__FILE__, __LINE__, "grid too large: no '" + part + "' in: " + message);
}

static void assertThrowsSOGError(System& system, SOGForce* force, const string& what) {
    system.addForce(force);
    VerletIntegrator integrator(0.001);
    try {
        Context context(system, integrator, *platform);
    }
    catch (const OpenMMException& e) {
        string message = e.what();
        if (message.rfind("SOGForce: ", 0) != 0)
            throwException(__FILE__, __LINE__, "unexpected message for " + what + ": " + message);
        return;
    }
    throwException(__FILE__, __LINE__, "no exception for " + what);
}

static SOGForce* makeValidForce(System& system, int numParticles) {
    system.setDefaultPeriodicBoxVectors(Vec3(2, 0, 0), Vec3(0, 2, 0), Vec3(0, 0, 2));
    SOGForce* force = new SOGForce(1);
    force->addGaussian(1.0, 0.3);
    for (int i = 0; i < numParticles; i++) {
        system.addParticle(1.0);
        force->addParticle({0.0});
    }
    return force;
}

void testInvalidInput() {
    {
        System system;
        SOGForce* force = makeValidForce(system, 2);
        system.addParticle(1.0);
        assertThrowsSOGError(system, force, "particle count");
    }
    {
        System system;
        SOGForce* force = makeValidForce(system, 2);
        SOGForce* empty = new SOGForce(1);
        empty->addParticle({0.0});
        empty->addParticle({0.0});
        delete force;
        assertThrowsSOGError(system, empty, "no Gaussians");
    }
    {
        System system;
        SOGForce* force = makeValidForce(system, 2);
        force->addGaussian(1.0, 0.0);
        assertThrowsSOGError(system, force, "zero width");
    }
    {
        System system;
        SOGForce* force = makeValidForce(system, 2);
        force->addGaussian(NAN, 0.3);
        assertThrowsSOGError(system, force, "non-finite weight");
    }
    {
        System system;
        SOGForce* force = makeValidForce(system, 2);
        force->addGaussian(1.0, 0.3, 1);
        assertThrowsSOGError(system, force, "channel out of range");
    }
    {
        // Charges whose energy would overflow.
        System system;
        SOGForce* force = makeValidForce(system, 2);
        force->setParticleCharges(0, {1e200});
        assertThrowsSOGError(system, force, "charges of 1e200");
    }
    for (double tol : {1e-11, 0.2}) {
        System system;
        SOGForce* force = makeValidForce(system, 2);
        force->setTolerance(tol);
        assertThrowsSOGError(system, force, "tolerance");
    }
    {
        SOGForce force(2);
        bool thrown = false;
        try {
            force.addParticle({1.0});
        }
        catch (const OpenMMException& e) {
            thrown = true;
        }
        ASSERT(thrown);
    }
}

/**
 * A non-finite value of the charge scale parameter raises an exception naming it at evaluation,
 * on every platform.
 */
void testNonFiniteChargeScale() {
    System system;
    system.addForce(makeValidForce(system, 2));
    VerletIntegrator integrator(0.001);
    Context context(system, integrator, *platform);
    context.setPositions({Vec3(0, 0, 0), Vec3(0.5, 0, 0)});
    context.setParameter("sog_lambda", NAN);
    string message;
    try {
        context.getState(State::Energy);
    }
    catch (const OpenMMException& e) {
        message = e.what();
    }
    if (message.rfind("SOGForce: the charge scale parameter 'sog_lambda'", 0) != 0)
        throwException(__FILE__, __LINE__, "NaN charge scale: unexpected message '" + message + "'");
}

/**
 * Non-finite positions raise an exception at evaluation. Only host platforms check this: GPU
 * platforms, like OpenMM's own forces there, return non-finite results instead.
 */
void testNonFinitePosition() {
    System system;
    system.addForce(makeValidForce(system, 2));
    VerletIntegrator integrator(0.001);
    Context context(system, integrator, *platform);
    context.setPositions({Vec3(0, 0, 0), Vec3(NAN, 0, 0)});
    bool thrown = false;
    try {
        context.getState(State::Energy);
    }
    catch (const OpenMMException& e) {
        thrown = (string(e.what()).rfind("SOGForce: ", 0) == 0);
    }
    ASSERT(thrown);
}

int main(int argc, char* argv[]) {
    try {
        initializeTests(argc, argv);
        for (int P : {1, 2})
            for (bool triclinic : {false, true})
                for (bool neutral : {true, false})
                    testAgainstDirectSum(P, triclinic, neutral);
        testFiniteDifference();
        testChargeScale();
        testUpdateParameters();
        testBackgroundIntegral();
        testBoxChange();
        testGridTooLarge();
        testInvalidInput();
        testNonFiniteChargeScale();
        runPlatformTests();
    }
    catch (const exception& e) {
        cout << "exception: " << e.what() << endl;
        return 1;
    }
    cout << "Done" << endl;
    return 0;
}
