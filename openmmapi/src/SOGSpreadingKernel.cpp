#include "internal/SOGSpreadingKernel.h"
#include "internal/SOGForceImpl.h"
#include "openmm/OpenMMException.h"
#include <algorithm>
#include <cmath>

using namespace SOGPlugin;
using namespace std;

static const int MAX_WIDTH = 16;
static const int MAX_DEGREE = 24;

static double kernelAt(int t, double v, double alpha, double beta, bool derivative) {
    double u = 0.5*(v + 1.0);
    double z = 1.0 - (u + t)/alpha;
    return (derivative ? SOGForceImpl::calcKernelDerivative(z, beta) : SOGForceImpl::calcKernelValue(z, beta));
}

/*
 * result[t] = sum_k coefficients[k*width + t] v^k for every t at once, by Horner's rule.
 */
static void evaluateAll(const vector<double>& coefficients, int width, int degree, double v, double* result) {
    double sum[MAX_WIDTH];
    const double* a = coefficients.data();
    for (int t = 0; t < width; t++)
        sum[t] = a[degree*width + t];
    for (int k = degree - 1; k >= 0; k--)
        for (int t = 0; t < width; t++)
            sum[t] = sum[t]*v + a[k*width + t];
    for (int t = 0; t < width; t++)
        result[t] = sum[t];
}

/*
 * Interpolate at the degree+1 Chebyshev points of [-1, 1] (coefficients of T_k by the discrete
 * cosine sums), then expand sum_k c_k T_k(v) in powers of v through T_{k+1} = 2v T_k - T_{k-1}.
 */
vector<double> SOGSpreadingKernel::fit(int width, int degree, double alpha, double beta, bool derivative) {
    const int numNodes = degree + 1;
    vector<double> coefficients((degree + 1)*width, 0.0);
    for (int t = 0; t < width; t++) {
        vector<double> values(numNodes), chebyshev(numNodes, 0.0);
        for (int j = 0; j < numNodes; j++)
            values[j] = kernelAt(t, cos(M_PI*(j + 0.5)/numNodes), alpha, beta, derivative);
        for (int k = 0; k < numNodes; k++) {
            for (int j = 0; j < numNodes; j++)
                chebyshev[k] += values[j]*cos(M_PI*k*(j + 0.5)/numNodes);
            chebyshev[k] *= (k == 0 ? 1.0 : 2.0)/numNodes;
        }
        vector<double> previous(numNodes, 0.0), current(numNodes, 0.0), next(numNodes);
        previous[0] = 1.0; // T_0
        current[1] = 1.0;  // T_1
        for (int k = 0; k < numNodes; k++) {
            const vector<double>& power = (k == 0 ? previous : current);
            for (int i = 0; i < numNodes; i++)
                coefficients[i*width + t] += chebyshev[k]*power[i];
            if (k >= 1) {
                for (int i = 0; i < numNodes; i++)
                    next[i] = (i > 0 ? 2*current[i - 1] : 0.0) - previous[i];
                previous = current;
                current = next;
            }
        }
    }
    return coefficients;
}

double SOGSpreadingKernel::maxError(const vector<double>& coefficients, int width, int degree, double alpha, double beta,
        bool derivative, double scale) {
    // Inside the interval only: the kernel's derivative jumps at the support's edge (u = 0, t = 0),
    // where the series gives the outer value 0 and the polynomial the inner limit.
    const int numSamples = 256;
    double error = 0.0, values[MAX_WIDTH];
    for (int i = 0; i < numSamples; i++) {
        double v = -1.0 + 2.0*(i + 0.5)/numSamples;
        evaluateAll(coefficients, width, degree, v, values);
        for (int t = 0; t < width; t++)
            error = max(error, fabs(values[t] - kernelAt(t, v, alpha, beta, derivative))/scale);
    }
    return error;
}

SOGSpreadingKernel::SOGSpreadingKernel(int width, double beta, double fitTolerance) : width(width) {
    if (width < 2 || width > MAX_WIDTH)
        throw OpenMM::OpenMMException("SOGForce: unsupported spreading width " + to_string(width));
    const double alpha = 0.5*width;
    double derivativeScale = 0.0;
    for (int i = 0; i <= 1000; i++)
        derivativeScale = max(derivativeScale, fabs(SOGForceImpl::calcKernelDerivative(-1.0 + 2.0*i/1000, beta)));
    fitError = 0.0;
    for (bool derivative : {false, true}) {
        const double scale = (derivative ? derivativeScale : SOGForceImpl::calcKernelValue(0.0, beta));
        double bestError = INFINITY;
        int bestDegree = 0;
        vector<double> best;
        for (int degree = 2; degree <= MAX_DEGREE; degree++) {
            vector<double> coefficients = fit(width, degree, alpha, beta, derivative);
            double error = maxError(coefficients, width, degree, alpha, beta, derivative, scale);
            if (error < bestError) {
                bestError = error;
                bestDegree = degree;
                best = coefficients;
            }
            if (error <= fitTolerance)
                break;
        }
        (derivative ? derivativeDegree : valueDegree) = bestDegree;
        (derivative ? derivativeCoefficients : valueCoefficients) = best;
        fitError = max(fitError, bestError);
    }
}

void SOGSpreadingKernel::evaluate(double u, double* values, double* derivatives) const {
    const double v = 2.0*u - 1.0;
    evaluateAll(valueCoefficients, width, valueDegree, v, values);
    if (derivatives != nullptr)
        evaluateAll(derivativeCoefficients, width, derivativeDegree, v, derivatives);
}
