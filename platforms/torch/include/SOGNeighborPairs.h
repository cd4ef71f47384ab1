#ifndef OPENMM_SOGNEIGHBORPAIRS_H_
#define OPENMM_SOGNEIGHBORPAIRS_H_

#include <cstdint>
#include <vector>

namespace SOGPlugin {

/**
 * The full neighbour list a compiled SOG-Net takes as input: every ordered pair (i, j) and integer
 * lattice shift S (a row vector) with |r_j - r_i + S h| < cutoff, except i = j with S = 0. Each
 * pair appears in both orders. Units are the caller's (the model's Angstrom).
 */
struct SOGNeighborPairs {
    std::vector<int64_t> first, second;   // i and j, one entry per pair
    std::vector<int64_t> shifts;          // S, three entries per pair
    int size() const {
        return first.size();
    }
};

/**
 * Build the neighbour list with a cell list.
 *
 * @param positions  3N coordinates (atom-major)
 * @param cell       the periodic cell as 9 numbers, rows are the cell vectors (any triclinic cell,
 *                   any cutoff: several images of a pair are found when the cutoff exceeds half a
 *                   width of the cell); nullptr for a free structure (no images, shifts zero)
 * @param cutoff     the cutoff distance (> 0)
 * @param[out] pairs the pairs, sorted by i
 * @throws OpenMM::OpenMMException for a singular cell, a non-finite coordinate or a non-positive cutoff
 */
void findNeighborPairs(const std::vector<double>& positions, const double* cell, double cutoff, SOGNeighborPairs& pairs);

} // namespace SOGPlugin

#endif /*OPENMM_SOGNEIGHBORPAIRS_H_*/
