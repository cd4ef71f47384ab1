#ifndef OPENMM_TORCHSOGFORCEPROXY_H_
#define OPENMM_TORCHSOGFORCEPROXY_H_

#include "internal/windowsExportSOG.h"
#include "openmm/serialization/SerializationProxy.h"

namespace SOGPlugin {

/**
 * Serializes and deserializes TorchSOGForce objects (format version 2). Version 2 stores the
 * model's bytes (base64, in a <Model> child with their count) besides the original path, so the
 * XML runs without the file; version 1, which stored the path alone, is still read (the model is
 * then read from that path).
 */
class OPENMM_EXPORT_SOG TorchSOGForceProxy : public OpenMM::SerializationProxy {
public:
    TorchSOGForceProxy();
    void serialize(const void* object, OpenMM::SerializationNode& node) const;
    void* deserialize(const OpenMM::SerializationNode& node) const;
};

} // namespace SOGPlugin

#endif /*OPENMM_TORCHSOGFORCEPROXY_H_*/
