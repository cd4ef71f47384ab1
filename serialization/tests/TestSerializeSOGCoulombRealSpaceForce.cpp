/*
 * Round trip of SOGCoulombRealSpaceForce through XmlSerializer: every option is set to a
 * non-default value and every getter is compared. No temporary files.
 */
#include "SOGCoulombRealSpaceForce.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/AssertionUtilities.h"
#include "openmm/serialization/XmlSerializer.h"
#include <iostream>
#include <memory>
#include <sstream>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

void testSerialization() {
    SOGCoulombRealSpaceForce force;
    force.setForceGroup(4);
    force.setName("complement");
    force.setCutoffDistance(0.85);
    force.setCoulombPrefactor(138.9);
    force.setChargeScaleParameterName("ligand_lambda");
    force.addEnergyParameterDerivative("ligand_lambda");
    force.addGaussian(150.5, 0.27);
    force.addGaussian(-3.25, 0.61);
    force.setPolynomialCoefficients({12.5, -0.75, 1.0/3.0});
    force.setUseSwitchingFunction(true);
    force.setSwitchingDistance(0.71);
    force.setUseDispersionCorrection(true);
    force.addParticle(0.4, true);
    force.addParticle(-1.0/3.0, 0.315, 0.636, false);
    force.addParticle(0.7, 0.25, 1.0/7.0, true);
    force.addException(0, 2, 0.125, 0.29, 0.0625);
    force.addException(2, 1, 0.0);

    stringstream buffer;
    XmlSerializer::serialize<SOGCoulombRealSpaceForce>(&force, "Force", buffer);
    unique_ptr<SOGCoulombRealSpaceForce> copy(XmlSerializer::deserialize<SOGCoulombRealSpaceForce>(buffer));
    SOGCoulombRealSpaceForce& force2 = *copy;
    ASSERT_EQUAL(force.getForceGroup(), force2.getForceGroup());
    ASSERT_EQUAL(force.getName(), force2.getName());
    ASSERT_EQUAL(force.getCutoffDistance(), force2.getCutoffDistance());
    ASSERT_EQUAL(force.getCoulombPrefactor(), force2.getCoulombPrefactor());
    ASSERT_EQUAL(force.getChargeScaleParameterName(), force2.getChargeScaleParameterName());
    ASSERT_EQUAL(force.getUseSwitchingFunction(), force2.getUseSwitchingFunction());
    ASSERT_EQUAL(force.getSwitchingDistance(), force2.getSwitchingDistance());
    ASSERT_EQUAL(force.getUseDispersionCorrection(), force2.getUseDispersionCorrection());
    ASSERT_EQUAL(force.getNumEnergyParameterDerivatives(), force2.getNumEnergyParameterDerivatives());
    ASSERT_EQUAL(force.getEnergyParameterDerivativeName(0), force2.getEnergyParameterDerivativeName(0));
    ASSERT_EQUAL_CONTAINERS(force.getPolynomialCoefficients(), force2.getPolynomialCoefficients());
    ASSERT_EQUAL(force.getNumGaussians(), force2.getNumGaussians());
    for (int l = 0; l < force.getNumGaussians(); l++) {
        double w1, s1, w2, s2;
        force.getGaussianParameters(l, w1, s1);
        force2.getGaussianParameters(l, w2, s2);
        ASSERT_EQUAL(w1, w2);
        ASSERT_EQUAL(s1, s2);
    }
    ASSERT_EQUAL(force.getNumParticles(), force2.getNumParticles());
    for (int i = 0; i < force.getNumParticles(); i++) {
        double q1, q2;
        bool scaled1, scaled2;
        force.getParticleParameters(i, q1, scaled1);
        force2.getParticleParameters(i, q2, scaled2);
        ASSERT_EQUAL(q1, q2);
        ASSERT_EQUAL(scaled1, scaled2);
        double sigma1, epsilon1, sigma2, epsilon2;
        force.getParticleLennardJonesParameters(i, sigma1, epsilon1);
        force2.getParticleLennardJonesParameters(i, sigma2, epsilon2);
        ASSERT_EQUAL(sigma1, sigma2);
        ASSERT_EQUAL(epsilon1, epsilon2);
    }
    ASSERT_EQUAL(force.getNumExceptions(), force2.getNumExceptions());
    for (int e = 0; e < force.getNumExceptions(); e++) {
        int a1, b1, a2, b2;
        double p1, p2;
        force.getExceptionParameters(e, a1, b1, p1);
        force2.getExceptionParameters(e, a2, b2, p2);
        ASSERT_EQUAL(a1, a2);
        ASSERT_EQUAL(b1, b2);
        ASSERT_EQUAL(p1, p2);
        double sigma1, epsilon1, sigma2, epsilon2;
        force.getExceptionLennardJonesParameters(e, sigma1, epsilon1);
        force2.getExceptionLennardJonesParameters(e, sigma2, epsilon2);
        ASSERT_EQUAL(sigma1, sigma2);
        ASSERT_EQUAL(epsilon1, epsilon2);
    }
}

/**
 * A file written by version 1 (before Lennard-Jones) still reads, with no Lennard-Jones, no
 * switching function and no dispersion correction.
 */
void testVersion1() {
    stringstream buffer("<Force type=\"SOGCoulombRealSpaceForce\" version=\"1\" cutoff=\"0.8\" prefactor=\"138.9\" "
            "chargeScaleName=\"lam\" forceGroup=\"3\" name=\"old\"><Gaussians><Gaussian w=\"100\" sigma=\"0.3\"/></Gaussians>"
            "<Polynomial><Coefficient c=\"1.5\"/></Polynomial><Particles><Particle q=\"0.5\" scaled=\"1\"/>"
            "<Particle q=\"-0.5\" scaled=\"0\"/></Particles><Exceptions><Exception p1=\"0\" p2=\"1\" qq=\"0.125\"/></Exceptions>"
            "<EnergyParameterDerivatives/></Force>");
    unique_ptr<SOGCoulombRealSpaceForce> force(XmlSerializer::deserialize<SOGCoulombRealSpaceForce>(buffer));
    ASSERT_EQUAL(2, force->getNumParticles());
    ASSERT_EQUAL(1, force->getNumExceptions());
    ASSERT_EQUAL(0.8, force->getCutoffDistance());
    ASSERT_EQUAL(string("lam"), force->getChargeScaleParameterName());
    ASSERT(!force->getUseSwitchingFunction());
    ASSERT(!force->getUseDispersionCorrection());
    double charge, sigma, epsilon, chargeProd;
    bool scaled;
    int p1, p2;
    force->getParticleParameters(0, charge, scaled);
    ASSERT_EQUAL(0.5, charge);
    ASSERT(scaled);
    for (int i = 0; i < 2; i++) {
        force->getParticleLennardJonesParameters(i, sigma, epsilon);
        ASSERT_EQUAL(0.0, sigma);
        ASSERT_EQUAL(0.0, epsilon);
    }
    force->getExceptionParameters(0, p1, p2, chargeProd);
    ASSERT_EQUAL(0.125, chargeProd);
    force->getExceptionLennardJonesParameters(0, sigma, epsilon);
    ASSERT_EQUAL(0.0, epsilon);
}

/**
 * A file from a newer build (unknown version) is refused with a message that says so.
 */
void testUnknownVersion() {
    stringstream buffer("<Force type=\"SOGCoulombRealSpaceForce\" version=\"99\"/>");
    try {
        delete XmlSerializer::deserialize<SOGCoulombRealSpaceForce>(buffer);
    }
    catch (const OpenMMException& e) {
        ASSERT(string(e.what()).find("version 99") != string::npos);
        return;
    }
    throw OpenMMException("an unknown version was accepted");
}

int main() {
    try {
        testSerialization();
        testVersion1();
        testUnknownVersion();
    }
    catch (const exception& e) {
        cout << "exception: " << e.what() << endl;
        return 1;
    }
    cout << "Done" << endl;
    return 0;
}
