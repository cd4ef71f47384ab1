/*
 * SWIG interface of the SOG plugin. OpenMM's own interface (shipped in the openmm wheel under
 * OpenMM.libs/include/swig) is %imported, so SOGForce derives from the real openmm.Force.
 * Units are those of the C++ API: nm, kJ/mol, proton charges; plain floats in and out.
 */
%module(package="openmm_sog") openmmsog

%import(module="openmm") "swig/OpenMMSwigHeaders.i"
%include "swig/typemaps.i"
%include "typemaps.i"
%include <std_string.i>

%{
#include "SOGCoulombRealSpaceForce.h"
#include "SOGForce.h"
#include "TorchSOGForce.h"
#include "OpenMM.h"
#include "OpenMMAmoeba.h"
#include "OpenMMDrude.h"
#include "openmm/RPMDIntegrator.h"
#include "openmm/RPMDMonteCarloBarostat.h"
#include <vector>

/* Raise openmm.OpenMMException (a subclass of Exception) so users catch one type for both packages. */
static void sogSetPythonException(const char* message) {
    PyObject* openmmModule = PyImport_ImportModule("openmm");
    PyObject* exceptionType = (openmmModule != NULL ? PyObject_GetAttrString(openmmModule, "OpenMMException") : NULL);
    PyErr_Clear();
    PyErr_SetString(exceptionType != NULL ? exceptionType : PyExc_Exception, message);
    Py_XDECREF(exceptionType);
    Py_XDECREF(openmmModule);
}

/* Convert a float or a sequence of floats (units stripped) to a vector. Returns 0 and sets a Python error on failure. */
static int sogToDoubleVector(PyObject* input, std::vector<double>& result) {
    PyObject* stripped = Py_StripOpenMMUnits(input);
    if (stripped == NULL)
        return 0;
    result.clear();
    if (PyNumber_Check(stripped) && !PySequence_Check(stripped)) {
        double value = PyFloat_AsDouble(stripped);
        Py_DECREF(stripped);
        if (PyErr_Occurred())
            return 0;
        result.push_back(value);
        return 1;
    }
    PyObject* sequence = PySequence_Fast(stripped, "SOGForce: expected a float or a sequence of floats");
    Py_DECREF(stripped);
    if (sequence == NULL)
        return 0;
    Py_ssize_t size = PySequence_Fast_GET_SIZE(sequence);
    for (Py_ssize_t i = 0; i < size; i++) {
        double value = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(sequence, i));
        if (PyErr_Occurred()) {
            Py_DECREF(sequence);
            return 0;
        }
        result.push_back(value);
    }
    Py_DECREF(sequence);
    return 1;
}

static int sogToIntVector(PyObject* input, std::vector<int>& result) {
    PyObject* sequence = PySequence_Fast(input, "openmm_sog: expected a sequence of integers");
    if (sequence == NULL)
        return 0;
    result.clear();
    Py_ssize_t size = PySequence_Fast_GET_SIZE(sequence);
    for (Py_ssize_t i = 0; i < size; i++) {
        PyObject* item = PyNumber_Index(PySequence_Fast_GET_ITEM(sequence, i));
        if (item == NULL) {
            Py_DECREF(sequence);
            return 0;
        }
        result.push_back((int) PyLong_AsLong(item));
        Py_DECREF(item);
    }
    Py_DECREF(sequence);
    return 1;
}
%}

%exception {
    try {
        $action
    } catch (std::exception& e) {
        sogSetPythonException(e.what());
        SWIG_fail;
    }
}

/* charges in: a float (P = 1) or a sequence of P floats. */
%typemap(in) const std::vector<double>& charges (std::vector<double> temp) {
    if (!sogToDoubleVector($input, temp))
        SWIG_fail;
    $1 = &temp;
}
/* charges out: returned as a tuple of floats. */
%typemap(in, numinputs=0) std::vector<double>& charges (std::vector<double> temp) {
    $1 = &temp;
}
%typemap(argout) std::vector<double>& charges {
    PyObject* tuple = PyTuple_New($1->size());
    for (size_t i = 0; i < $1->size(); i++)
        PyTuple_SET_ITEM(tuple, i, PyFloat_FromDouble((*$1)[i]));
    %append_output(tuple);
}
/* Without this, the argout typemap above would also match the const (input) form. */
%typemap(argout) const std::vector<double>& charges ""
/* SOGCoulombRealSpaceForce's polynomial coefficients: a sequence of floats in, a tuple out. */
%typemap(in) const std::vector<double>& coefficients (std::vector<double> temp) {
    if (!sogToDoubleVector($input, temp))
        SWIG_fail;
    $1 = &temp;
}
%typemap(out) const std::vector<double>& getPolynomialCoefficients {
    $result = PyTuple_New($1->size());
    for (size_t i = 0; i < $1->size(); i++)
        PyTuple_SET_ITEM($result, i, PyFloat_FromDouble((*$1)[i]));
}
%typemap(in) const std::vector<int>& particles (std::vector<int> temp) {
    if (!sogToIntVector($input, temp))
        SWIG_fail;
    $1 = &temp;
}
%typemap(in) const std::vector<int>& atomicNumbers (std::vector<int> temp) {
    if (!sogToIntVector($input, temp))
        SWIG_fail;
    $1 = &temp;
}
%typemap(typecheck, precedence=SWIG_TYPECHECK_POINTER) const std::vector<int>& atomicNumbers {
    $1 = PySequence_Check($input) ? 1 : 0;
}
%typemap(out) const std::vector<int>& {
    $result = PyList_New($1->size());
    for (size_t i = 0; i < $1->size(); i++)
        PyList_SET_ITEM($result, i, PyLong_FromLong((*$1)[i]));
}
/* TorchSOGForce's model bytes in: bytes, bytearray or any buffer; a str is refused (a model is binary). */
%typemap(in) const std::string& modelBytes (std::string temp) {
    Py_buffer view;
    if (PyObject_GetBuffer($input, &view, PyBUF_SIMPLE) != 0) {
        PyErr_Format(PyExc_TypeError, "TorchSOGForce: modelBytes must be bytes (the contents of a file written by "
                "`sognet export`), not %s", Py_TYPE($input)->tp_name);
        SWIG_fail;
    }
    temp.assign(static_cast<const char*>(view.buf), view.len);
    PyBuffer_Release(&view);
    $1 = &temp;
}
/* temp is a local: nothing to free (std_string.i's freearg would look for its own variable). */
%typemap(freearg) const std::string& modelBytes ""
/* Any object reaches the typemap above, so that a str gets its TypeError rather than SWIG's overload error. */
%typemap(typecheck, precedence=SWIG_TYPECHECK_STRING) const std::string& modelBytes {
    $1 = 1;
}
/* ... and out, as bytes rather than a str (which would not survive the binary content). */
%typemap(out) const std::string& getModelBytes {
    $result = PyBytes_FromStringAndSize($1->data(), $1->size());
}
%newobject SOGPlugin::TorchSOGForce::fromBytes;
%apply double& OUTPUT { double& weight, double& width };
%apply double& OUTPUT { double& charge, double& chargeProd };
%apply double& OUTPUT { double& sigma, double& epsilon };
%apply bool& OUTPUT { bool& scaled };
%apply int& OUTPUT { int& particle1, int& particle2 };
%apply int& OUTPUT { int& channel };
%apply double& OUTPUT { double& kCutoff };
%apply int& OUTPUT { int& spreadWidth, int& nx, int& ny, int& nz };

/*
 * Ownership of cast()'s result. From XmlSerializer.deserialize() (or any proxy that owns its C++
 * object) the SOGForce takes the ownership over, as a proxy created by SOGForce() has it, so that
 * System.addForce() accepts it; the original proxy keeps the SOGForce alive while it lives. From
 * System.getForce() (the System owns the object) the result keeps the proxy it came from alive.
 */
%pythonappend SOGPlugin::SOGForce::cast %{
    if force.thisown:
        force.thisown = False
        val.thisown = True
        force._sog_owner = val
    else:
        val._sog_source = force
%}

/*
 * copy, deepcopy and pickle. openmm.Force's own __copy__ clones through XML into a proxy of type
 * openmm.Force and relabels its class, which leaves our methods refusing the object (TypeError);
 * cast() gives a proxy of the right type that owns the clone.
 */
%pythoncode %{
def _copy_through_xml(force):
    from openmm import XmlSerializer
    return type(force).cast(XmlSerializer.clone(force))


def _set_state_from_xml(force, state):
    from openmm import XmlSerializer
    other = type(force).cast(XmlSerializer.deserialize(state))
    force.this = other.this
    other.thisown = False
    force.thisown = True
%}

/* Recover a SOGForce from the openmm.Force that System.getForce() or XmlSerializer returns. */
%extend SOGPlugin::SOGForce {
    %pythoncode %{
    def __copy__(self):
        return _copy_through_xml(self)

    def __deepcopy__(self, memo):
        return _copy_through_xml(self)

    def __getstate__(self):
        from openmm import XmlSerializer
        return XmlSerializer.serialize(self)

    def __setstate__(self, state):
        _set_state_from_xml(self, state)
    %}
    static SOGPlugin::SOGForce& cast(OpenMM::Force& force) {
        SOGPlugin::SOGForce* result = dynamic_cast<SOGPlugin::SOGForce*>(&force);
        if (result == NULL)
            throw OpenMM::OpenMMException("SOGForce: the force is not a SOGForce");
        return *result;
    }
    static bool isinstance(OpenMM::Force& force) {
        return dynamic_cast<SOGPlugin::SOGForce*>(&force) != NULL;
    }
}

%pythonappend SOGPlugin::TorchSOGForce::cast %{
    if force.thisown:
        force.thisown = False
        val.thisown = True
        force._sog_owner = val
    else:
        val._sog_source = force
%}

%extend SOGPlugin::TorchSOGForce {
    %pythoncode %{
    def __copy__(self):
        return _copy_through_xml(self)

    def __deepcopy__(self, memo):
        return _copy_through_xml(self)

    def __getstate__(self):
        from openmm import XmlSerializer
        return XmlSerializer.serialize(self)

    def __setstate__(self, state):
        _set_state_from_xml(self, state)
    %}
    static SOGPlugin::TorchSOGForce& cast(OpenMM::Force& force) {
        SOGPlugin::TorchSOGForce* result = dynamic_cast<SOGPlugin::TorchSOGForce*>(&force);
        if (result == NULL)
            throw OpenMM::OpenMMException("TorchSOGForce: the force is not a TorchSOGForce");
        return *result;
    }
    static bool isinstance(OpenMM::Force& force) {
        return dynamic_cast<SOGPlugin::TorchSOGForce*>(&force) != NULL;
    }
}

%pythonappend SOGPlugin::SOGCoulombRealSpaceForce::cast %{
    if force.thisown:
        force.thisown = False
        val.thisown = True
        force._sog_owner = val
    else:
        val._sog_source = force
%}

%extend SOGPlugin::SOGCoulombRealSpaceForce {
    %pythoncode %{
    def __copy__(self):
        return _copy_through_xml(self)

    def __deepcopy__(self, memo):
        return _copy_through_xml(self)

    def __getstate__(self):
        from openmm import XmlSerializer
        return XmlSerializer.serialize(self)

    def __setstate__(self, state):
        _set_state_from_xml(self, state)
    %}
    static SOGPlugin::SOGCoulombRealSpaceForce& cast(OpenMM::Force& force) {
        SOGPlugin::SOGCoulombRealSpaceForce* result = dynamic_cast<SOGPlugin::SOGCoulombRealSpaceForce*>(&force);
        if (result == NULL)
            throw OpenMM::OpenMMException("SOGCoulombRealSpaceForce: the force is not a SOGCoulombRealSpaceForce");
        return *result;
    }
    static bool isinstance(OpenMM::Force& force) {
        return dynamic_cast<SOGPlugin::SOGCoulombRealSpaceForce*>(&force) != NULL;
    }
}

/*
 * The classes are wrapped from their headers, so the Python API and its docstrings (units included,
 * through -doxygen) cannot drift from the C++ one. The nested GaussianInfo structs are C++-only.
 */
#define OPENMM_EXPORT_SOG
%ignore SOGPlugin::SOGForce::GaussianInfo;
%include "SOGForce.h"
%ignore SOGPlugin::TorchSOGForce::GaussianInfo;
%include "TorchSOGForce.h"
%ignore SOGPlugin::SOGCoulombRealSpaceForce::ParticleInfo;
%ignore SOGPlugin::SOGCoulombRealSpaceForce::ExceptionInfo;
%ignore SOGPlugin::SOGCoulombRealSpaceForce::GaussianInfo;
%include "SOGCoulombRealSpaceForce.h"
