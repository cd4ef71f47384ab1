#ifndef OPENMM_SOGPAIRKERNEL_H_
#define OPENMM_SOGPAIRKERNEL_H_

#include "internal/SOGKernelParameters.h"
#include <cmath>
#include <vector>

namespace SOGPlugin {

/**
 * A SOG kernel evaluated at one pair distance, for the pair sums (SOGFreeSpaceSum,
 * SOGRealSpaceSum): g_c(r) = sum_l w_l exp(-r^2/sigma_l^2) of every channel and its derivative
 * with respect to r^2.
 */
class SOGPairKernel {
public:
    /**
     * @param parameters  the channels and Gaussians (weights in kJ/mol/e^2, widths in nm)
     */
    explicit SOGPairKernel(const SOGKernelParameters& parameters) : numChannels(parameters.numChannels) {
        for (int l = 0; l < parameters.getNumGaussians(); l++)
            terms.push_back(Term{parameters.weights[l], 1.0/(parameters.widths[l]*parameters.widths[l]),
                    parameters.channels[l]});
    }
    struct Term {
        double weight;          // kJ/mol/e^2
        double inverseWidth2;   // 1/nm^2
        int channel;
    };
    int getNumChannels() const {
        return numChannels;
    }
    /**
     * The Gaussians, in the order of the parameters.
     */
    const std::vector<Term>& getTerms() const {
        return terms;
    }
    /**
     * g_c (kJ/mol/e^2) and dg_c/d(r^2) (kJ/mol/e^2/nm^2) of every channel at r^2 (nm^2).
     */
    void evaluate(double r2, double* g, double* dgdr2) const {
        for (int c = 0; c < numChannels; c++)
            g[c] = dgdr2[c] = 0.0;
        for (const Term& term : terms)
            addTerm(term, term.weight*std::exp(-r2*term.inverseWidth2), g, dgdr2);
    }
    /**
     * The same from the terms' exponentials exp(-r^2/sigma_l^2), given at exponentials[l*stride]
     * (for a caller that computes them for many pairs at once).
     */
    void evaluate(const double* exponentials, int stride, double* g, double* dgdr2) const {
        for (int c = 0; c < numChannels; c++)
            g[c] = dgdr2[c] = 0.0;
        for (int l = 0; l < (int) terms.size(); l++)
            addTerm(terms[l], terms[l].weight*exponentials[l*stride], g, dgdr2);
    }
    /**
     * Add one pair's energy sum_c q_ic q_jc g_c(r) to energy and, if chargeDerivatives is not
     * null, its dE/dq to entries i*P+c and j*P+c; return dE/d(r^2) (kJ/mol/nm^2). g and dgdr2
     * are scratch space of P entries each.
     */
    double addPair(double r2, int i, int j, const std::vector<double>& charges, double& energy,
            std::vector<double>* chargeDerivatives, double* g, double* dgdr2) const {
        evaluate(r2, g, dgdr2);
        const int p = numChannels;
        double dEdr2 = 0.0;
        for (int c = 0; c < p; c++) {
            const double qi = charges[i*p+c], qj = charges[j*p+c];
            energy += qi*qj*g[c];
            dEdr2 += qi*qj*dgdr2[c];
            if (chargeDerivatives != nullptr) {
                (*chargeDerivatives)[i*p+c] += qj*g[c];
                (*chargeDerivatives)[j*p+c] += qi*g[c];
            }
        }
        return dEdr2;
    }
private:
    static void addTerm(const Term& term, double value, double* g, double* dgdr2) {
        g[term.channel] += value;
        dgdr2[term.channel] -= value*term.inverseWidth2;
    }
    std::vector<Term> terms;
    int numChannels;
};

} // namespace SOGPlugin

#endif /*OPENMM_SOGPAIRKERNEL_H_*/
