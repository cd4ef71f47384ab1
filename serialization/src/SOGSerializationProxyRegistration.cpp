#include "SOGCoulombRealSpaceForce.h"
#include "SOGCoulombRealSpaceForceProxy.h"
#include "SOGForce.h"
#include "SOGForceProxy.h"
#include "TorchSOGForce.h"
#include "TorchSOGForceProxy.h"
#include "openmm/serialization/SerializationProxy.h"

/*
 * Register the serialization proxies when libOpenMMSOG is loaded, so that XmlSerializer knows
 * SOGForce and TorchSOGForce as soon as the library is in the process.
 */
#if defined(_MSC_VER)
    extern "C" __declspec(dllexport) void registerSOGSerializationProxies();
    static struct SOGProxyRegistrar {
        SOGProxyRegistrar() {
            registerSOGSerializationProxies();
        }
    } sogProxyRegistrar;
#else
    extern "C" void __attribute__((constructor)) registerSOGSerializationProxies();
#endif

extern "C" void registerSOGSerializationProxies() {
    OpenMM::SerializationProxy::registerProxy(typeid(SOGPlugin::SOGForce), new SOGPlugin::SOGForceProxy());
    OpenMM::SerializationProxy::registerProxy(typeid(SOGPlugin::SOGCoulombRealSpaceForce),
            new SOGPlugin::SOGCoulombRealSpaceForceProxy());
    OpenMM::SerializationProxy::registerProxy(typeid(SOGPlugin::TorchSOGForce), new SOGPlugin::TorchSOGForceProxy());
}
