#ifndef OPENMM_TORCHSOGFORCEPROXY_H_
#define OPENMM_TORCHSOGFORCEPROXY_H_

#include "internal/windowsExportSOG.h"
#include "openmm/serialization/SerializationProxy.h"

namespace SOGPlugin {

/**
 * Serializes and deserializes TorchSOGForce objects (format version 1). The model is stored as
 * the path of its file, not its contents.
 */
class OPENMM_EXPORT_SOG TorchSOGForceProxy : public OpenMM::SerializationProxy {
public:
    TorchSOGForceProxy();
    void serialize(const void* object, OpenMM::SerializationNode& node) const;
    void* deserialize(const OpenMM::SerializationNode& node) const;
};

} // namespace SOGPlugin

#endif /*OPENMM_TORCHSOGFORCEPROXY_H_*/
