#ifndef OPENMM_SOGCOULOMBREALSPACEFORCEPROXY_H_
#define OPENMM_SOGCOULOMBREALSPACEFORCEPROXY_H_

#include "internal/windowsExportSOG.h"
#include "openmm/serialization/SerializationProxy.h"

namespace SOGPlugin {

/**
 * XML serialization of SOGCoulombRealSpaceForce (versioned; see the .cpp for the history).
 */
class OPENMM_EXPORT_SOG SOGCoulombRealSpaceForceProxy : public OpenMM::SerializationProxy {
public:
    SOGCoulombRealSpaceForceProxy();
    void serialize(const void* object, OpenMM::SerializationNode& node) const;
    void* deserialize(const OpenMM::SerializationNode& node) const;
};

} // namespace SOGPlugin

#endif /*OPENMM_SOGCOULOMBREALSPACEFORCEPROXY_H_*/
