/*
 * Round trip of TorchSOGForce through XmlSerializer: every option is set to a non-default value
 * and every getter is compared. The model file is stored by path, so none is needed here.
 */
#include "TorchSOGForce.h"
#include "openmm/internal/AssertionUtilities.h"
#include "openmm/serialization/XmlSerializer.h"
#include <iostream>
#include <memory>
#include <sstream>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

void testSerialization() {
    TorchSOGForce force("/models/a model.pt", {11, 17, 1, 8}, 2);
    force.setForceGroup(5);
    force.setName("SOG-Net");
    force.setTolerance(2.5e-6);
    force.addGaussian(1.5, 0.3, 0);
    force.addGaussian(-0.7, 0.61, 1);
    force.addGaussian(1.0/3.0, 1.1, 1);

    stringstream buffer;
    XmlSerializer::serialize<TorchSOGForce>(&force, "Force", buffer);
    unique_ptr<TorchSOGForce> copy(XmlSerializer::deserialize<TorchSOGForce>(buffer));
    ASSERT_EQUAL(force.getForceGroup(), copy->getForceGroup());
    ASSERT_EQUAL(force.getName(), copy->getName());
    ASSERT_EQUAL(force.getFile(), copy->getFile());
    ASSERT_EQUAL_CONTAINERS(force.getAtomicNumbers(), copy->getAtomicNumbers());
    ASSERT_EQUAL(force.getNumChannels(), copy->getNumChannels());
    ASSERT_EQUAL(force.getTolerance(), copy->getTolerance());
    ASSERT_EQUAL(force.getNumGaussians(), copy->getNumGaussians());
    for (int i = 0; i < force.getNumGaussians(); i++) {
        double w1, s1, w2, s2;
        int c1, c2;
        force.getGaussianParameters(i, w1, s1, c1);
        copy->getGaussianParameters(i, w2, s2, c2);
        ASSERT_EQUAL(w1, w2);
        ASSERT_EQUAL(s1, s2);
        ASSERT_EQUAL(c1, c2);
    }
}

int main() {
    try {
        testSerialization();
    }
    catch (const exception& e) {
        cout << "exception: " << e.what() << endl;
        return 1;
    }
    cout << "Done" << endl;
    return 0;
}
