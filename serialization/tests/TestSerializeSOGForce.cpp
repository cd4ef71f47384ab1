/*
 * Round trip of SOGForce through XmlSerializer: every option is set to a non-default value and
 * every getter is compared. No temporary files.
 */
#include "SOGForce.h"
#include "openmm/Platform.h"
#include "openmm/internal/AssertionUtilities.h"
#include "openmm/serialization/XmlSerializer.h"
#include <iostream>
#include <sstream>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

void testSerialization() {
    SOGForce force(2);
    force.setForceGroup(3);
    force.setName("long range");
    force.setTolerance(3.5e-7);
    force.setChargeScaleParameterName("ligand_lambda");
    force.setChargeScaleDefaultValue(0.25);
    force.addGaussian(1.5, 0.3, 0);
    force.addGaussian(-0.7, 0.61, 1);
    force.addGaussian(0.2, 1.1, 1);
    force.addParticle({0.1, -0.2});
    force.addParticle({-1.0/3.0, 0.7});
    force.addParticle({0.0, 1e-3});
    force.setScaledParticles({2, 0});
    force.addEnergyParameterDerivative("ligand_lambda");
    force.setBackgroundIntegral(-2.75, 1);

    stringstream buffer;
    XmlSerializer::serialize<SOGForce>(&force, "Force", buffer);
    SOGForce* copy = XmlSerializer::deserialize<SOGForce>(buffer);
    SOGForce& force2 = *copy;
    ASSERT_EQUAL(force.getForceGroup(), force2.getForceGroup());
    ASSERT_EQUAL(force.getName(), force2.getName());
    ASSERT_EQUAL(force.getNumChannels(), force2.getNumChannels());
    ASSERT_EQUAL(force.getTolerance(), force2.getTolerance());
    ASSERT_EQUAL(force.getChargeScaleParameterName(), force2.getChargeScaleParameterName());
    ASSERT_EQUAL(force.getChargeScaleDefaultValue(), force2.getChargeScaleDefaultValue());
    ASSERT_EQUAL(force.usesPeriodicBoundaryConditions(), force2.usesPeriodicBoundaryConditions());
    for (int c = 0; c < force.getNumChannels(); c++)
        ASSERT_EQUAL(force.getBackgroundIntegral(c), force2.getBackgroundIntegral(c));
    ASSERT_EQUAL(force.getNumGaussians(), force2.getNumGaussians());
    for (int i = 0; i < force.getNumGaussians(); i++) {
        double w1, s1, w2, s2;
        int c1, c2;
        force.getGaussianParameters(i, w1, s1, c1);
        force2.getGaussianParameters(i, w2, s2, c2);
        ASSERT_EQUAL(w1, w2);
        ASSERT_EQUAL(s1, s2);
        ASSERT_EQUAL(c1, c2);
    }
    ASSERT_EQUAL(force.getNumParticles(), force2.getNumParticles());
    for (int i = 0; i < force.getNumParticles(); i++) {
        vector<double> q1, q2;
        force.getParticleCharges(i, q1);
        force2.getParticleCharges(i, q2);
        ASSERT_EQUAL_CONTAINERS(q1, q2);
    }
    ASSERT_EQUAL_CONTAINERS(force.getScaledParticles(), force2.getScaledParticles());
    ASSERT_EQUAL(force.getNumEnergyParameterDerivatives(), force2.getNumEnergyParameterDerivatives());
    for (int i = 0; i < force.getNumEnergyParameterDerivatives(); i++)
        ASSERT_EQUAL(force.getEnergyParameterDerivativeName(i), force2.getEnergyParameterDerivativeName(i));
    delete copy;
}

/**
 * XML written before the background integrals existed (version 1) still loads, with B_c = 0.
 */
void testVersion1() {
    const string xml = "<Force chargeScaleDefault=\"1\" chargeScaleName=\"sog_lambda\" forceGroup=\"0\" name=\"SOGForce\" "
            "numChannels=\"1\" tolerance=\"1e-05\" type=\"SOGForce\" version=\"1\"><Gaussians><Gaussian c=\"0\" "
            "sigma=\".3\" w=\"1.5\"/></Gaussians><Particles><Particle q0=\".5\"/></Particles><ScaledParticles/>"
            "<EnergyParameterDerivatives/></Force>";
    stringstream buffer(xml);
    SOGForce* force = XmlSerializer::deserialize<SOGForce>(buffer);
    ASSERT_EQUAL(1, force->getNumParticles());
    ASSERT_EQUAL(0.0, force->getBackgroundIntegral(0));
    delete force;
}

int main() {
    try {
        testSerialization();
        testVersion1();
    }
    catch (const exception& e) {
        cout << "exception: " << e.what() << endl;
        return 1;
    }
    cout << "Done" << endl;
    return 0;
}
