// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {AuthorityRegistry} from "./AuthorityRegistry.sol";
import {LacchainRelayRecipient} from "./LacchainRelayRecipient.sol";

/// @title AnchorRegistry
/// @notice Anchors Merkle roots of credential-digest batches and records batches of status changes,
/// per customs authority, in one gap-free sequence per authority.
/// @dev The caller must be the current anchorer of an active authority in `registry`. Roots are
/// OpenZeppelin StandardMerkleTree roots over leaves encoded ["bytes32"]:
/// `leaf = keccak256(bytes.concat(keccak256(abi.encode(digest))))`, sorted-pair keccak nodes.
/// Gas: anchoring one root writes one new slot (the root) and updates one (the authority's lane);
/// the anchorer is kept in the lane and archived once per anchorer change, not stored per root.
contract AnchorRegistry is LacchainRelayRecipient {
    /// @dev Status codes accepted by recordStatusBatch: 1 ISSUED, 2 SUSPENDED, 3 REINSTATED,
    /// 4 REVOKED, 5 ANNULLED, 6 AMENDED, 7 EXPIRED.
    uint8 internal constant MAX_STATUS = 7;

    /// @dev Per root, one slot (2 + 4 + 8 + 6 + 6 + 4 = 30 bytes). `sequence` is never 0 for an
    /// anchored root. `epoch` names the anchorer: the lane's current one, or an archived one.
    struct Anchor {
        bytes2 country;
        uint32 count;
        uint64 sequence;
        uint48 blockNumber;
        uint48 timestamp;
        uint32 epoch;
    }

    /// @dev Per authority, one slot (8 + 4 + 20 = 32 bytes): last sequence used (anchors and status
    /// batches alike), and the anchorer of its latest anchor with that anchorer's epoch number
    /// (0 = no anchor yet). Earlier epochs' anchorers are archived in `_formerAnchorers`.
    struct Lane {
        uint64 lastSequence;
        uint32 epoch;
        address anchorer;
    }

    /// @notice The registry of authorities and their anchorers.
    AuthorityRegistry public immutable registry;

    mapping(bytes32 root => Anchor) private _anchors;
    mapping(bytes2 country => Lane) private _lanes;
    mapping(bytes2 country => mapping(uint32 epoch => address)) private _formerAnchorers;

    /// @notice A batch root was anchored.
    /// @param country The anchoring authority.
    /// @param sequence Its sequence number (lastSequence + 1).
    /// @param root StandardMerkleTree root of the batch.
    /// @param count Number of leaves in the batch.
    event BatchAnchored(bytes2 indexed country, uint64 indexed sequence, bytes32 indexed root, uint32 count);

    /// @notice One credential's status changed (one per entry of a status batch).
    /// @param country The authority that recorded it.
    /// @param digest The credential digest.
    /// @param status 1 ISSUED, 2 SUSPENDED, 3 REINSTATED, 4 REVOKED, 5 ANNULLED, 6 AMENDED, 7 EXPIRED.
    /// @param sequence Sequence number of the status batch.
    event StatusChanged(bytes2 indexed country, bytes32 indexed digest, uint8 status, uint64 sequence);

    /// @notice A batch of status changes was recorded (after its StatusChanged events).
    /// @param country The recording authority.
    /// @param sequence Its sequence number (lastSequence + 1).
    /// @param count Number of entries.
    event StatusBatchRecorded(bytes2 indexed country, uint64 indexed sequence, uint32 count);

    /// @notice The caller is not the current anchorer of any authority.
    /// @param caller The (original) sender.
    error NotAnchorer(address caller);
    /// @notice The caller's authority is suspended.
    /// @param country The authority.
    error AuthorityNotActive(bytes2 country);
    /// @notice The sequence is not the authority's last sequence + 1.
    /// @param expected The sequence that would be accepted.
    /// @param got The sequence given.
    error BadSequence(uint64 expected, uint64 got);
    /// @notice The root was anchored before (by any authority).
    /// @param root The root.
    error AlreadyAnchored(bytes32 root);
    /// @notice The root is zero.
    error ZeroRoot();
    /// @notice The batch is empty.
    error EmptyBatch();
    /// @notice The batch has more than 2^32 - 1 entries.
    error BatchTooLarge();
    /// @notice `digests` and `statuses` differ in length.
    /// @param digests Number of digests.
    /// @param statuses Number of statuses.
    error LengthMismatch(uint256 digests, uint256 statuses);
    /// @notice A status code is 0 or above 7.
    /// @param index Position in the batch.
    /// @param status The rejected code.
    error InvalidStatus(uint256 index, uint8 status);
    /// @notice An address argument was address(0).
    error ZeroAddress();

    /// @notice Deploys the anchor registry.
    /// @param authorityRegistry The AuthorityRegistry naming anchorers.
    /// @param forwarder LACChain RelayHub, or address(0) on a chain without the gas model.
    constructor(AuthorityRegistry authorityRegistry, address forwarder) LacchainRelayRecipient(forwarder) {
        if (address(authorityRegistry) == address(0)) revert ZeroAddress();
        registry = authorityRegistry;
    }

    /// @notice Anchors the root of a batch of `count` credential digests as the caller's
    /// authority's next sequence number.
    /// @param root StandardMerkleTree root (non-zero, never anchored before).
    /// @param count Number of leaves (non-zero).
    /// @param sequence Must equal lastSequence(country) + 1.
    function anchorBatch(bytes32 root, uint32 count, uint64 sequence) external {
        (address sender, bytes2 country) = _anchorer();
        Lane memory lane = _lanes[country];
        if (sequence != lane.lastSequence + 1) revert BadSequence(lane.lastSequence + 1, sequence);
        if (root == bytes32(0)) revert ZeroRoot();
        if (count == 0) revert EmptyBatch();
        Anchor storage slot = _anchors[root];
        if (slot.sequence != 0) revert AlreadyAnchored(root);

        uint32 epoch = lane.epoch;
        if (lane.anchorer != sender) {
            // A new anchorer for this authority (or its first anchor): archive the previous one.
            if (epoch != 0) _formerAnchorers[country][epoch] = lane.anchorer;
            ++epoch;
        }
        _lanes[country] = Lane({lastSequence: sequence, epoch: epoch, anchorer: sender});
        _anchors[root] = Anchor({
            country: country,
            count: count,
            sequence: sequence,
            blockNumber: uint48(block.number),
            timestamp: uint48(block.timestamp),
            epoch: epoch
        });
        emit BatchAnchored(country, sequence, root, count);
    }

    /// @notice Records a batch of status changes as the caller's authority's next sequence number;
    /// emits one StatusChanged per entry, then one StatusBatchRecorded. Nothing per digest is stored.
    /// @param sequence Must equal lastSequence(country) + 1.
    /// @param digests Credential digests (non-empty).
    /// @param statuses Status code per digest: 1 ISSUED, 2 SUSPENDED, 3 REINSTATED, 4 REVOKED,
    /// 5 ANNULLED, 6 AMENDED, 7 EXPIRED.
    function recordStatusBatch(uint64 sequence, bytes32[] calldata digests, uint8[] calldata statuses) external {
        (, bytes2 country) = _anchorer();
        uint64 expected = _lanes[country].lastSequence + 1;
        if (sequence != expected) revert BadSequence(expected, sequence);
        uint256 n = digests.length;
        if (n != statuses.length) revert LengthMismatch(n, statuses.length);
        if (n == 0) revert EmptyBatch();
        if (n > type(uint32).max) revert BatchTooLarge();

        for (uint256 i; i < n; ++i) {
            uint8 status = statuses[i];
            if (status == 0 || status > MAX_STATUS) revert InvalidStatus(i, status);
            emit StatusChanged(country, digests[i], status, sequence);
        }
        _lanes[country].lastSequence = sequence;
        emit StatusBatchRecorded(country, sequence, uint32(n));
    }

    /// @notice The last sequence number used by `country` (0 before its first batch).
    /// @param country The authority.
    /// @return The sequence number.
    function lastSequence(bytes2 country) external view returns (uint64) {
        return _lanes[country].lastSequence;
    }

    /// @notice What is known about an anchored root; all zero when it was never anchored.
    /// @param root The root.
    /// @return country The anchoring authority.
    /// @return anchorer The address that anchored it.
    /// @return count Number of leaves.
    /// @return sequence The authority's sequence number for it.
    /// @return blockNumber Block in which it was anchored.
    /// @return timestamp That block's timestamp (seconds).
    function anchorOf(bytes32 root)
        external
        view
        returns (bytes2 country, address anchorer, uint32 count, uint64 sequence, uint64 blockNumber, uint64 timestamp)
    {
        Anchor memory a = _anchors[root];
        if (a.sequence == 0) return (bytes2(0), address(0), 0, 0, 0, 0);
        Lane memory lane = _lanes[a.country];
        anchorer = a.epoch == lane.epoch ? lane.anchorer : _formerAnchorers[a.country][a.epoch];
        return (a.country, anchorer, a.count, a.sequence, a.blockNumber, a.timestamp);
    }

    /// @notice Whether `root` was anchored by `country`.
    /// @param root The root.
    /// @param country The authority.
    /// @return True when anchored, and by that authority.
    function isAnchoredBy(bytes32 root, bytes2 country) external view returns (bool) {
        Anchor storage a = _anchors[root];
        return a.sequence != 0 && a.country == country;
    }

    /// @notice Checks a StandardMerkleTree proof (OpenZeppelin MerkleProof, sorted-pair keccak256).
    /// @param root The tree root.
    /// @param proof Sibling hashes from leaf to root.
    /// @param leaf The leaf hash (see leafOf).
    /// @return True when the proof leads from `leaf` to `root`.
    function verifyLeaf(bytes32 root, bytes32[] calldata proof, bytes32 leaf) external pure returns (bool) {
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    /// @notice The StandardMerkleTree leaf for a digest with leaf encoding ["bytes32"].
    /// @param digest The credential digest.
    /// @return keccak256(bytes.concat(keccak256(abi.encode(digest)))).
    function leafOf(bytes32 digest) external pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(digest))));
    }

    /// @dev The original sender and its authority; reverts unless it anchors for an active authority.
    function _anchorer() private view returns (address sender, bytes2 country) {
        sender = _msgSender();
        bool active;
        (country, active) = registry.authorityOf(sender);
        if (country == bytes2(0)) revert NotAnchorer(sender);
        if (!active) revert AuthorityNotActive(country);
    }
}
