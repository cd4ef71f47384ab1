#ifndef OPENMM_SOGFORCEPROXY_H_
#define OPENMM_SOGFORCEPROXY_H_

#include "internal/windowsExportSOG.h"
#include "openmm/serialization/SerializationProxy.h"

namespace SOGPlugin {

/**
 * Serializes and deserializes SOGForce objects (format version 1).
 */
class OPENMM_EXPORT_SOG SOGForceProxy : public OpenMM::SerializationProxy {
public:
    SOGForceProxy();
    void serialize(const void* object, OpenMM::SerializationNode& node) const;
    void* deserialize(const OpenMM::SerializationNode& node) const;
};

} // namespace SOGPlugin

#endif /*OPENMM_SOGFORCEPROXY_H_*/
