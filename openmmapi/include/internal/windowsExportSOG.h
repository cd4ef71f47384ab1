#ifndef OPENMM_WINDOWSEXPORTSOG_H_
#define OPENMM_WINDOWSEXPORTSOG_H_

/*
 * Symbol visibility for the SOG plugin's API library (libOpenMMSOG). On Windows, classes must be
 * marked dllexport while the library is built and dllimport by its users; elsewhere this is empty.
 */
#if defined(_MSC_VER)
    #if defined(OPENMM_SOG_BUILDING_SHARED_LIBRARY)
        #define OPENMM_EXPORT_SOG __declspec(dllexport)
    #else
        #define OPENMM_EXPORT_SOG __declspec(dllimport)
    #endif
#else
    #define OPENMM_EXPORT_SOG
#endif

#endif // OPENMM_WINDOWSEXPORTSOG_H_
