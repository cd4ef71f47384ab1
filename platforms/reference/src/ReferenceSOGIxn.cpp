#include "ReferenceSOGIxn.h"
#include "SOGGridLoops.h"
#include "SOGParallelFor.h"
#include "openmm/OpenMMException.h"
#include "openmm/internal/ThreadPool.h"
#include <algorithm>
#include <cmath>

using namespace SOGPlugin;
using namespace OpenMM;
using namespace std;

template <class Real>
ReferenceSOGIxn<Real>::ReferenceSOGIxn(const SOGGridRequest& request, const Vec3* boxVectors) :
        request(request), numChannels(request.numChannels),
        grid(SOGForceImpl::calcGridParameters(boxVectors, request, 0.0)),
        fft(grid.gridSize[0], grid.gridSize[1], grid.gridSize[2]),
        spreadingKernel(grid.spreadWidth, grid.beta, SOGSpreadingKernel::getRoundOffTolerance(sizeof(Real) == sizeof(float))),
        loops(selectGridLoops<Real>()), weightScale(1.0/SOGForceImpl::calcKernelValue(0.0, grid.beta)),
        channelWeights(numChannels), channelWidths(numChannels),
        selfKernel(numChannels, 0.0), grids(numChannels), spectra(numChannels), modeFactors(numChannels) {
}

template <class Real>
void ReferenceSOGIxn<Real>::fitGrid(const Vec3* boxVectors) {
    if (SOGForceImpl::gridHoldsModes(boxVectors, grid.kCutoff, grid.upsampling, grid.gridSize))
        return;
    // Refused (with the reason) before anything is allocated if the grid cannot fit.
    SOGGridParameters larger = SOGForceImpl::calcGridParameters(boxVectors, request, 0.0);
    for (auto& values : grids)
        vector<Real>().swap(values); // free the old grids before the new ones are allocated
    for (auto& values : spectra)
        vector<complex<Real> >().swap(values);
    grid = larger;
    fft = SOGFFT3D<Real>(grid.gridSize[0], grid.gridSize[1], grid.gridSize[2]);
    modeFactorsValid = false;
}

template <class Real>
void ReferenceSOGIxn<Real>::setGaussians(const vector<double>& weights, const vector<double>& widths, const vector<int>& channels) {
    for (int c = 0; c < numChannels; c++) {
        channelWeights[c].clear();
        channelWidths[c].clear();
        selfKernel[c] = 0.0;
    }
    modeFactorsValid = false;
    // By increasing width, so that calcKernelTransform can stop at the first negligible term.
    vector<int> order(weights.size());
    for (int l = 0; l < (int) order.size(); l++)
        order[l] = l;
    sort(order.begin(), order.end(), [&](int a, int b) { return widths[a] < widths[b]; });
    for (int l : order) {
        channelWeights[channels[l]].push_back(weights[l]);
        channelWidths[channels[l]].push_back(widths[l]);
        selfKernel[channels[l]] += weights[l];
    }
}

template <class Real>
double ReferenceSOGIxn<Real>::calcKernelTransform(int channel, double k2) const {
    const double piFactor = pow(M_PI, 1.5);
    double sum = 0.0;
    for (int l = 0; l < (int) channelWeights[channel].size(); l++) {
        double sigma = channelWidths[channel][l];
        double x = 0.25*sigma*sigma*k2;
        if (x > 50)
            break; // this term is below exp(-50) of its weight, and so is every wider one
        sum += channelWeights[channel][l]*piFactor*sigma*sigma*sigma*exp(-x);
    }
    return sum;
}

template <class Real>
void ReferenceSOGIxn<Real>::updateModeFactors(const Vec3* boxVectors, const Vec3* recip, double volume, const int* maxMode) {
    bool sameBox = modeFactorsValid;
    for (int d = 0; d < 3; d++)
        sameBox = sameBox && boxVectors[d] == factorBox[d];
    if (sameBox)
        return;
    const int* n = grid.gridSize;
    const double alpha = 0.5*grid.spreadWidth;
    // Deconvolution factors D_d(m) = alpha psihat(2 pi m alpha / n_d) for |m| <= K_d, divided by
    // phi(0) like the weights (see calculate()), so that ghat/(V D^2) keeps its true scale.
    vector<double> deconvolution[3];
    for (int d = 0; d < 3; d++) {
        deconvolution[d].resize(2*maxMode[d] + 1);
        for (int m = -maxMode[d]; m <= maxMode[d]; m++)
            deconvolution[d][m + maxMode[d]] = alpha*SOGForceImpl::calcKernelTransform(2*M_PI*m*alpha/n[d], grid.beta)*weightScale;
    }
    const int kz = maxMode[2] + 1;
    const size_t numModes = (size_t) (2*maxMode[0] + 1)*(2*maxMode[1] + 1)*kz;
    for (int ch = 0; ch < numChannels; ch++)
        modeFactors[ch].resize(numModes);
    parallelFor(threads, 2*maxMode[0] + 1, [&](int begin, int end, int thread) {
        for (int row = begin; row < end; row++)
            for (int my = -maxMode[1]; my <= maxMode[1]; my++)
                for (int mz = 0; mz < kz; mz++) {
                    const int mx = row - maxMode[0];
                    const size_t index = ((size_t) row*(2*maxMode[1] + 1) + my + maxMode[1])*kz + mz;
                    Vec3 k = (recip[0]*mx + recip[1]*my + recip[2]*mz)*(2*M_PI);
                    double D = deconvolution[0][row]*deconvolution[1][my + maxMode[1]]*deconvolution[2][mz + maxMode[2]];
                    bool zeroMode = (mx == 0 && my == 0 && mz == 0);
                    for (int ch = 0; ch < numChannels; ch++)
                        modeFactors[ch][index] = (Real) (zeroMode ? 0.0 : calcKernelTransform(ch, k.dot(k))/(volume*D*D));
                }
    });
    for (int d = 0; d < 3; d++)
        factorBox[d] = boxVectors[d];
    modeFactorsValid = true;
}

static int wrapIndex(int j, int size) {
    j %= size;
    return (j < 0 ? j + size : j);
}

template <class Real>
double ReferenceSOGIxn<Real>::calculate(const vector<Vec3>& positions, const Vec3* boxVectors, const vector<double>& charges,
        vector<Vec3>* forces, vector<double>* chargeDerivatives) {
    fitGrid(boxVectors);
    const int numParticles = positions.size();
    const int P = numChannels;
    const int w = grid.spreadWidth;
    const double alpha = 0.5*w;
    const int* n = grid.gridSize;
    const size_t gridPoints = (size_t) n[0]*n[1]*n[2];
    const bool needPotential = (forces != nullptr || chargeDerivatives != nullptr);
    const int numThreads = (threads == nullptr ? 1 : max(1, threads->getNumThreads()));

    // Box inverse: s = r h^{-1}, with the box vectors as the rows of h; recip[d] = column d of h^{-1}.
    Vec3 recip[3];
    double volume;
    int maxMode[3];
    SOGForceImpl::calcReciprocalBox(request.forceName, boxVectors, grid.kCutoff, grid.upsampling, n, recip, volume, maxMode);
    for (int i = 0; i < numParticles; i++) {
        const Vec3& r = positions[i];
        if (!(isfinite(r[0]) && isfinite(r[1]) && isfinite(r[2])))
            throw OpenMMException(request.forceName + ": particle " + to_string(i) + " has a non-finite position");
    }

    // The first support point of each particle along each axis, and the weight polynomials'
    // variable 2u - 1, u = j0 - (x - alpha); in the particles' order.
    vector<int> supportStart(3*numParticles);
    vector<double> kernelVariable(3*numParticles);
    parallelFor(threads, numParticles, [&](int begin, int end, int thread) {
        for (int i = begin; i < end; i++)
            for (int d = 0; d < 3; d++) {
                double s = positions[i].dot(recip[d]);
                s -= floor(s);
                const double start = s*n[d] - alpha; // the support begins at x - alpha
                const int j0 = (int) ceil(start);
                supportStart[3*i + d] = j0;
                kernelVariable[3*i + d] = 2.0*(j0 - start) - 1.0;
            }
    });
    // Wrapped grid index of every index a support can reach, j in [-w, n_d + w): a table lookup
    // instead of an integer division per support point.
    vector<int> wrapTables[3];
    for (int d = 0; d < 3; d++) {
        wrapTables[d].resize(n[d] + 2*w);
        for (int j = -w; j < n[d] + w; j++)
            wrapTables[d][j + w] = wrapIndex(j, n[d]);
    }
    auto wrapped = [&](int d, int j) {
        return wrapTables[d][j + w];
    };
    // Visit particles in grid order so that neighbouring particles touch the same cache lines.
    // A stable counting sort by (x plane, y row) of the first support point: linear in N, and
    // the order depends only on the positions, so results are reproducible. Everything the
    // spreading and gathering loops read per particle (support, weights, charges) is then stored
    // in this order, so that those loops read memory in sequence; entry k is particle order[k].
    const int numRows = n[0]*n[1];
    vector<int> order(numParticles);
    vector<int> rowOf(numParticles), rowStart(numRows + 1, 0);
    for (int i = 0; i < numParticles; i++) {
        rowOf[i] = wrapped(0, supportStart[3*i])*n[1] + wrapped(1, supportStart[3*i + 1]);
        rowStart[rowOf[i] + 1]++;
    }
    for (int r = 0; r < numRows; r++)
        rowStart[r + 1] += rowStart[r];
    for (int i = 0; i < numParticles; i++)
        order[rowStart[rowOf[i]]++] = i;

    // Spreading weights, shared by every channel and by both transforms. They are divided by
    // phi(0) (weightScale), so that they are at most 1: unscaled, phi(0) = I0(beta) - 1 reaches
    // 1e9 and the grid values its cube, beyond single precision's range once squared. The
    // deconvolution factors carry the same scale (updateModeFactors), so the results do not change.
    firstIndex.resize(3*numParticles);
    sortedVariables.resize(3*numParticles);
    sortedCharges.resize(numParticles*P);
    sortedExactCharges.resize(numParticles*P);
    weights.resize(3*numParticles*w);
    derivWeights.resize(needPotential ? 3*numParticles*w : 0);
    SOGWeightPolynomials polynomials;
    polynomials.valueCoefficients = spreadingKernel.getCoefficients(false).data();
    polynomials.valueDegree = spreadingKernel.getDegree(false);
    polynomials.derivativeCoefficients = (needPotential ? spreadingKernel.getCoefficients(true).data() : nullptr);
    polynomials.derivativeDegree = spreadingKernel.getDegree(true);
    polynomials.valueScale = weightScale;
    for (int d = 0; d < 3; d++)
        polynomials.derivativeScale[d] = weightScale*n[d]/alpha; // d/dz to d/ds, and the same scale as the values
    // Everything read per particle is copied into grid order first, in a loop that does nothing
    // else, so that its scattered reads overlap (the charges may be far from every cache).
    parallelFor(threads, numParticles, [&](int begin, int end, int thread) {
        for (int k = begin; k < end; k++) {
            const int i = order[k];
            for (int d = 0; d < 3; d++) {
                firstIndex[3*k + d] = supportStart[3*i + d];
                sortedVariables[3*k + d] = kernelVariable[3*i + d];
            }
            for (int ch = 0; ch < P; ch++) {
                sortedExactCharges[k*P + ch] = charges[i*P + ch];
                sortedCharges[k*P + ch] = (Real) charges[i*P + ch];
            }
        }
        loops.computeWeights(polynomials, w, sortedVariables.data(), begin, end, weights.data(), derivWeights.data());
    });
    SOGGridPass<Real> pass;
    pass.width = w;
    pass.numChannels = P;
    for (int d = 0; d < 3; d++) {
        pass.gridSize[d] = n[d];
        pass.wrapTable[d] = wrapTables[d].data();
    }
    pass.firstIndex = firstIndex.data();
    pass.weights = weights.data();
    pass.derivWeights = derivWeights.data();
    pass.charges = sortedCharges.data();

    // Type 1: spread all channels in one pass, then FFT. Each thread owns a slab of x planes and
    // adds only the contributions that fall in it, so no two threads write the same point.
    for (int ch = 0; ch < P; ch++)
        grids[ch].assign(gridPoints, Real(0));
    vector<Real*> gridPointers(P);
    for (int ch = 0; ch < P; ch++)
        gridPointers[ch] = grids[ch].data();
    // The particles are sorted by their first x plane: those reaching a thread's slab lie in one
    // or (across the periodic boundary) two ranges of the order, visited in the same order as by
    // a single thread so that every grid point sums its terms in the same order.
    vector<int> sortedPlane(numParticles);
    for (int k = 0; k < numParticles; k++)
        sortedPlane[k] = wrapped(0, firstIndex[3*k]);
    parallelFor(threads, n[0], [&](int firstPlane, int endPlane, int thread) {
        auto firstAtOrAbove = [&](int plane) {
            return (int) (lower_bound(sortedPlane.begin(), sortedPlane.end(), plane) - sortedPlane.begin());
        };
        auto spreadRange = [&](int begin, int end) {
            loops.spread(pass, begin, end, firstPlane, endPlane, gridPointers.data());
        };
        const int lowest = firstPlane - (w - 1); // first planes whose support reaches the slab
        if (endPlane - lowest >= n[0])
            spreadRange(0, numParticles);
        else if (lowest >= 0)
            spreadRange(firstAtOrAbove(lowest), firstAtOrAbove(endPlane));
        else {
            spreadRange(0, firstAtOrAbove(endPlane));
            spreadRange(firstAtOrAbove(lowest + n[0]), numParticles);
        }
    });
    const size_t spectrumSize = fft.getSpectrumSize(maxMode);
    for (int ch = 0; ch < P; ch++) {
        spectra[ch].resize(spectrumSize);
        fft.forward(grids[ch].data(), spectra[ch].data(), maxMode, threads);
    }

    // k-space: energy, and the type-2 input T_c(m) = ghat_c(k) S_c(m) / (V prod D^2) on kept modes
    // with m_z >= 0 (the FFT's half spectrum; the modes with m_z > 0 count twice in the energy).
    // Threads split the mx range; partial energies are summed in thread order (deterministic).
    updateModeFactors(boxVectors, recip, volume, maxMode);
    const int kz = maxMode[2] + 1;
    const int rowLength = (2*maxMode[1] + 1)*kz;
    vector<double> threadEnergy(numThreads, 0.0);
    parallelFor(threads, 2*maxMode[0] + 1, [&](int begin, int end, int thread) {
        double sum = 0.0;
        for (int row = begin; row < end; row++) {
            const int mx = row - maxMode[0];
            for (int my = -maxMode[1]; my <= maxMode[1]; my++) {
                const long long first = ((long long) wrapIndex(mx, n[0])*n[1] + wrapIndex(my, n[1]))*kz;
                const size_t factorIndex = (size_t) row*rowLength + (my + maxMode[1])*kz;
                for (int ch = 0; ch < P; ch++) {
                    const Real* factor = &modeFactors[ch][factorIndex];
                    complex<Real>* S = &spectra[ch][first];
                    for (int mz = 0; mz < kz; mz++) {
                        sum += (mz == 0 ? 0.5 : 1.0)*(double) factor[mz]*(double) norm(S[mz]);
                        if (needPotential)
                            S[mz] *= factor[mz];
                    }
                }
            }
        }
        threadEnergy[thread] = sum;
    });
    double energy = 0.0;
    for (double partial : threadEnergy)
        energy += partial;
    for (int i = 0; i < numParticles; i++)
        for (int ch = 0; ch < P; ch++)
            energy -= 0.5*selfKernel[ch]*charges[i*P + ch]*charges[i*P + ch];
    if (!needPotential)
        return energy;

    // Type 2: inverse FFT (a Hermitian input, so a real potential), then interpolate phi_c and its
    // fractional gradient with the same weights.
    for (int ch = 0; ch < P; ch++)
        fft.backward(spectra[ch].data(), grids[ch].data(), maxMode, threads);
    if (chargeDerivatives != nullptr)
        chargeDerivatives->resize(numParticles*P);
    SOGInterpolationOutput output;
    output.charges = sortedExactCharges.data();
    output.selfKernel = selfKernel.data();
    for (int d = 0; d < 3; d++)
        for (int e = 0; e < 3; e++)
            output.recip[d][e] = recip[d][e];
    sortedForces.resize(forces == nullptr ? 0 : 3*numParticles);
    sortedPotentials.resize(chargeDerivatives == nullptr ? 0 : numParticles*P);
    output.forces = (forces == nullptr ? nullptr : sortedForces.data());
    output.chargeDerivatives = (chargeDerivatives == nullptr ? nullptr : sortedPotentials.data());
    const Real* const* potentialGrids = gridPointers.data();
    parallelFor(threads, numParticles, [&](int begin, int end, int thread) {
        loops.interpolate(pass, begin, end, potentialGrids, output);
        // back to the particles' order: scattered writes in a loop that does nothing else
        for (int k = begin; k < end; k++) {
            const int i = order[k];
            if (forces != nullptr)
                (*forces)[i] += Vec3(sortedForces[3*k], sortedForces[3*k + 1], sortedForces[3*k + 2]);
            if (chargeDerivatives != nullptr)
                for (int ch = 0; ch < P; ch++)
                    (*chargeDerivatives)[i*P + ch] = sortedPotentials[k*P + ch];
        }
    });
    return energy;
}

template class SOGPlugin::ReferenceSOGIxn<float>;
template class SOGPlugin::ReferenceSOGIxn<double>;

unique_ptr<SOGHostEngine> SOGHostEngine::create(const SOGGridRequest& request, const Vec3* boxVectors, bool singlePrecision) {
    if (singlePrecision)
        return unique_ptr<SOGHostEngine>(new ReferenceSOGIxn<float>(request, boxVectors));
    return unique_ptr<SOGHostEngine>(new ReferenceSOGIxn<double>(request, boxVectors));
}
