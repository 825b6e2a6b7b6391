// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {LacchainRelayRecipient} from "./LacchainRelayRecipient.sol";

/// @title AuthorityRegistry
/// @notice Who may anchor for which customs administration, and the Mutual Recognition
/// Arrangements (MRAs) between administrations.
/// @dev Authorities are keyed by ISO 3166-1 alpha-2 code as two upper-case ASCII bytes
/// (`bytes2("MX")` = 0x4d58). Governance admits, suspends and reinstates authorities; each
/// authority acts on chain through one anchorer address, which it may rotate. An address that has
/// served one authority never serves another. MRAs are agreed between the anchorers of two
/// authorities: one proposes, the other accepts the same scope; either may suspend or terminate;
/// only the party that suspended may resume. All writes emit events; `_msgSender()` honours
/// LACChain's RelayHub (see LacchainRelayRecipient).
contract AuthorityRegistry is LacchainRelayRecipient {
    // ---------------------------------------------------------------- constants

    /// @dev MRA scope bit: AEO security and safety certificates.
    uint8 internal constant SCOPE_SECURITY_AND_SAFETY = 1;
    /// @dev MRA scope bit: customs simplifications certificates.
    uint8 internal constant SCOPE_CUSTOMS_SIMPLIFICATIONS = 2;
    /// @dev MRA scope bit: full (combined) certificates.
    uint8 internal constant SCOPE_FULL = 4;
    /// @dev Every defined scope bit.
    uint8 internal constant SCOPE_ALL = 7;

    /// @dev MRA states as returned by `mra()`.
    uint8 internal constant MRA_NONE = 0;
    uint8 internal constant MRA_PROPOSED = 1;
    uint8 internal constant MRA_ACTIVE = 2;
    uint8 internal constant MRA_SUSPENDED = 3;
    uint8 internal constant MRA_TERMINATED = 4;

    // ---------------------------------------------------------------- storage

    /// @dev One customs administration. `anchorer`, `active` and `admittedAtBlock` share a slot.
    struct Authority {
        address anchorer;
        bool active;
        uint64 admittedAtBlock;
        string did;
    }

    /// @dev One MRA, stored under the ordered country pair; fits one slot.
    struct Mra {
        uint8 state;
        uint8 scope;
        bytes2 proposer;
        bytes2 suspendedBy;
        uint64 sinceBlock;
    }

    /// @notice Account allowed to admit, suspend and reinstate authorities.
    address public governance;

    mapping(bytes2 country => Authority) private _authorities;
    /// @dev Country an address serves or served as anchorer; never cleared, so never reused elsewhere.
    mapping(address anchorer => bytes2 country) private _countryOfAnchorer;
    bytes2[] private _countries;
    mapping(bytes4 pair => Mra) private _mras;

    // ---------------------------------------------------------------- events

    /// @notice Governance passed from `previousGovernance` to `newGovernance`.
    /// @param previousGovernance Former governance (address(0) at deployment).
    /// @param newGovernance New governance.
    event GovernanceTransferred(address indexed previousGovernance, address indexed newGovernance);

    /// @notice An authority was admitted, active, with its first anchorer.
    /// @param country ISO alpha-2 code.
    /// @param anchorer Address that acts for the authority.
    /// @param did The authority's DID.
    event AuthorityAdmitted(bytes2 indexed country, address indexed anchorer, string did);

    /// @notice An authority's anchorer changed.
    /// @param country ISO alpha-2 code.
    /// @param previousAnchorer Anchorer until now (it keeps no rights).
    /// @param newAnchorer Anchorer from now on.
    event AnchorerRotated(bytes2 indexed country, address indexed previousAnchorer, address indexed newAnchorer);

    /// @notice An authority was suspended: it can neither anchor nor record status changes.
    /// @param country ISO alpha-2 code.
    event AuthoritySuspended(bytes2 indexed country);

    /// @notice A suspended authority was reinstated.
    /// @param country ISO alpha-2 code.
    event AuthorityReinstated(bytes2 indexed country);

    /// @notice An authority's DID changed.
    /// @param country ISO alpha-2 code.
    /// @param did The new DID.
    event DidChanged(bytes2 indexed country, string did);

    /// @notice An MRA was proposed (pair in ascending byte order).
    /// @param low The lower country code of the pair.
    /// @param high The higher country code of the pair.
    /// @param proposer The proposing country (one of the pair).
    /// @param scope Bitmask of certificate types: 1 security and safety, 2 customs simplifications, 4 full.
    event MraProposed(bytes2 indexed low, bytes2 indexed high, bytes2 proposer, uint8 scope);

    /// @notice A proposed MRA was accepted and is active.
    /// @param low The lower country code of the pair.
    /// @param high The higher country code of the pair.
    /// @param acceptor The accepting country (the one that did not propose).
    /// @param scope The agreed scope bitmask.
    event MraAccepted(bytes2 indexed low, bytes2 indexed high, bytes2 acceptor, uint8 scope);

    /// @notice An active MRA was suspended.
    /// @param low The lower country code of the pair.
    /// @param high The higher country code of the pair.
    /// @param by The suspending country; only it may resume.
    event MraSuspended(bytes2 indexed low, bytes2 indexed high, bytes2 by);

    /// @notice A suspended MRA was resumed and is active again.
    /// @param low The lower country code of the pair.
    /// @param high The higher country code of the pair.
    /// @param by The resuming country (the one that suspended).
    event MraResumed(bytes2 indexed low, bytes2 indexed high, bytes2 by);

    /// @notice An MRA (or a pending proposal) was terminated; it may be proposed again.
    /// @param low The lower country code of the pair.
    /// @param high The higher country code of the pair.
    /// @param by The terminating country.
    event MraTerminated(bytes2 indexed low, bytes2 indexed high, bytes2 by);

    // ---------------------------------------------------------------- errors

    /// @notice Only governance may do this.
    /// @param caller The (original) sender.
    error NotGovernance(address caller);
    /// @notice Only the authority's anchorer or governance may do this.
    /// @param caller The (original) sender.
    /// @param country The authority concerned.
    error NotAuthorized(address caller, bytes2 country);
    /// @notice The caller is not the current anchorer of any authority.
    /// @param caller The (original) sender.
    error NotAnchorer(address caller);
    /// @notice An address argument was address(0).
    error ZeroAddress();
    /// @notice The country code is not two upper-case ASCII letters.
    /// @param country The rejected code.
    error InvalidCountry(bytes2 country);
    /// @notice The DID is empty.
    error EmptyDid();
    /// @notice The country already has an authority.
    /// @param country The country code.
    error AuthorityExists(bytes2 country);
    /// @notice No authority was admitted for the country.
    /// @param country The country code.
    error UnknownAuthority(bytes2 country);
    /// @notice The address serves, or once served, an authority (`country`) and cannot take this role.
    /// @param anchorer The address.
    /// @param country The authority it serves or served.
    error AnchorerInUse(address anchorer, bytes2 country);
    /// @notice The authority is suspended.
    /// @param country The country code.
    error AuthorityNotActive(bytes2 country);
    /// @notice The authority is already active.
    /// @param country The country code.
    error AuthorityAlreadyActive(bytes2 country);
    /// @notice An authority cannot have an MRA with itself.
    /// @param country The country code.
    error SelfMra(bytes2 country);
    /// @notice The scope is 0 or has bits outside 1|2|4.
    /// @param scope The rejected scope.
    error InvalidScope(uint8 scope);
    /// @notice The MRA between the pair is not in a state that allows this.
    /// @param a One country of the pair.
    /// @param b The other country.
    /// @param state Its current state (0 none, 1 proposed, 2 active, 3 suspended, 4 terminated).
    error BadMraState(bytes2 a, bytes2 b, uint8 state);
    /// @notice The accepted scope differs from the proposed one.
    /// @param proposed Scope in the proposal.
    /// @param offered Scope the acceptor agreed to.
    error ScopeMismatch(uint8 proposed, uint8 offered);
    /// @notice The proposer cannot accept its own proposal.
    /// @param country The proposer.
    error ProposerCannotAccept(bytes2 country);
    /// @notice Only the country that suspended the MRA may resume it.
    /// @param suspendedBy The country that suspended it.
    error NotSuspender(bytes2 suspendedBy);

    // ---------------------------------------------------------------- construction

    /// @notice Deploys the registry.
    /// @param initialGovernance Governance account (not the deployer: on LACChain a relayed
    /// deployment's `msg.sender` is the RelayHub).
    /// @param forwarder LACChain RelayHub, or address(0) on a chain without the gas model.
    constructor(address initialGovernance, address forwarder) LacchainRelayRecipient(forwarder) {
        if (initialGovernance == address(0)) revert ZeroAddress();
        governance = initialGovernance;
        emit GovernanceTransferred(address(0), initialGovernance);
    }

    modifier onlyGovernance() {
        address sender = _msgSender();
        if (sender != governance) revert NotGovernance(sender);
        _;
    }

    // ---------------------------------------------------------------- governance

    /// @notice Hands governance to `newGovernance` (one step; double-check the address).
    /// @param newGovernance The new governance account.
    function transferGovernance(address newGovernance) external onlyGovernance {
        if (newGovernance == address(0)) revert ZeroAddress();
        emit GovernanceTransferred(governance, newGovernance);
        governance = newGovernance;
    }

    /// @notice Admits the customs administration of `country`, active, acting through `anchorer`.
    /// @param country ISO alpha-2 code as two upper-case ASCII bytes.
    /// @param did The authority's DID (non-empty).
    /// @param anchorer Address that will anchor for it; must never have served any authority.
    function admitAuthority(bytes2 country, string calldata did, address anchorer) external onlyGovernance {
        _checkCountry(country);
        if (_authorities[country].anchorer != address(0)) revert AuthorityExists(country);
        if (bytes(did).length == 0) revert EmptyDid();
        if (anchorer == address(0)) revert ZeroAddress();
        bytes2 served = _countryOfAnchorer[anchorer];
        if (served != bytes2(0)) revert AnchorerInUse(anchorer, served);

        _authorities[country] =
            Authority({anchorer: anchorer, active: true, admittedAtBlock: uint64(block.number), did: did});
        _countryOfAnchorer[anchorer] = country;
        _countries.push(country);
        emit AuthorityAdmitted(country, anchorer, did);
    }

    /// @notice Suspends an active authority: its anchorer can no longer anchor, record status
    /// changes, propose, accept or resume MRAs (it can still suspend or terminate them).
    /// @param country The authority.
    function suspendAuthority(bytes2 country) external onlyGovernance {
        Authority storage a = _existing(country);
        if (!a.active) revert AuthorityNotActive(country);
        a.active = false;
        emit AuthoritySuspended(country);
    }

    /// @notice Reinstates a suspended authority.
    /// @param country The authority.
    function reinstateAuthority(bytes2 country) external onlyGovernance {
        Authority storage a = _existing(country);
        if (a.active) revert AuthorityAlreadyActive(country);
        a.active = true;
        emit AuthorityReinstated(country);
    }

    // ---------------------------------------------------------------- authority or governance

    /// @notice Replaces the anchorer of `country`. Callable by governance, or by the current anchorer
    /// while the authority is active (a suspended authority's key may be the reason for suspension).
    /// @param country The authority.
    /// @param newAnchorer The new anchorer: never used before, or a former anchorer of the same authority.
    function rotateAnchorer(bytes2 country, address newAnchorer) external {
        Authority storage a = _existing(country);
        address sender = _msgSender();
        address previous = a.anchorer;
        if (sender != governance && !(sender == previous && a.active)) revert NotAuthorized(sender, country);
        if (newAnchorer == address(0)) revert ZeroAddress();
        bytes2 served = _countryOfAnchorer[newAnchorer];
        if (newAnchorer == previous || (served != bytes2(0) && served != country)) {
            revert AnchorerInUse(newAnchorer, served);
        }
        a.anchorer = newAnchorer;
        _countryOfAnchorer[newAnchorer] = country;
        emit AnchorerRotated(country, previous, newAnchorer);
    }

    /// @notice Changes the DID of `country`. Callable by governance or the authority's current anchorer.
    /// @param country The authority.
    /// @param did The new DID (non-empty).
    function setDid(bytes2 country, string calldata did) external {
        Authority storage a = _existing(country);
        address sender = _msgSender();
        if (sender != governance && sender != a.anchorer) revert NotAuthorized(sender, country);
        if (bytes(did).length == 0) revert EmptyDid();
        a.did = did;
        emit DidChanged(country, did);
    }

    // ---------------------------------------------------------------- MRAs

    /// @notice Proposes an MRA with `partner`; called by the proposer's anchorer (authority active).
    /// Allowed when the pair has no MRA or its MRA was terminated.
    /// @param partner The other authority (must be admitted).
    /// @param scope Bitmask of certificate types shared: 1 security and safety, 2 customs simplifications, 4 full.
    function proposeMra(bytes2 partner, uint8 scope) external {
        bytes2 me = _callerCountry(true);
        if (partner == me) revert SelfMra(me);
        _existing(partner);
        if (scope == 0 || scope & ~SCOPE_ALL != 0) revert InvalidScope(scope);
        (bytes4 key, bytes2 low, bytes2 high) = _pair(me, partner);
        uint8 state = _mras[key].state;
        if (state != MRA_NONE && state != MRA_TERMINATED) revert BadMraState(me, partner, state);
        _mras[key] = Mra({
            state: MRA_PROPOSED,
            scope: scope,
            proposer: me,
            suspendedBy: bytes2(0),
            sinceBlock: uint64(block.number)
        });
        emit MraProposed(low, high, me, scope);
    }

    /// @notice Accepts the MRA that `proposer` proposed to the caller's authority; called by the
    /// acceptor's anchorer. Both authorities must be active and `scope` must equal the proposed
    /// scope, so a proposal replaced in the meantime cannot be accepted by mistake.
    /// @param proposer The proposing authority.
    /// @param scope The scope the acceptor agrees to.
    function acceptMra(bytes2 proposer, uint8 scope) external {
        bytes2 me = _callerCountry(true);
        (bytes4 key, bytes2 low, bytes2 high) = _pair(me, proposer);
        Mra storage m = _mras[key];
        if (m.state != MRA_PROPOSED) revert BadMraState(me, proposer, m.state);
        if (m.proposer == me) revert ProposerCannotAccept(me);
        if (m.scope != scope) revert ScopeMismatch(m.scope, scope);
        if (!_authorities[proposer].active) revert AuthorityNotActive(proposer);
        m.state = MRA_ACTIVE;
        m.sinceBlock = uint64(block.number);
        emit MraAccepted(low, high, me, scope);
    }

    /// @notice Suspends the active MRA with `partner`; called by either party's anchorer (even
    /// while its authority is suspended). Only the suspending party may resume it.
    /// @param partner The other authority.
    function suspendMra(bytes2 partner) external {
        bytes2 me = _callerCountry(false);
        (bytes4 key, bytes2 low, bytes2 high) = _pair(me, partner);
        Mra storage m = _mras[key];
        if (m.state != MRA_ACTIVE) revert BadMraState(me, partner, m.state);
        m.state = MRA_SUSPENDED;
        m.suspendedBy = me;
        m.sinceBlock = uint64(block.number);
        emit MraSuspended(low, high, me);
    }

    /// @notice Resumes the MRA with `partner` that the caller's authority suspended; its authority must be active.
    /// @param partner The other authority.
    function resumeMra(bytes2 partner) external {
        bytes2 me = _callerCountry(true);
        (bytes4 key, bytes2 low, bytes2 high) = _pair(me, partner);
        Mra storage m = _mras[key];
        if (m.state != MRA_SUSPENDED) revert BadMraState(me, partner, m.state);
        if (m.suspendedBy != me) revert NotSuspender(m.suspendedBy);
        m.state = MRA_ACTIVE;
        m.suspendedBy = bytes2(0);
        m.sinceBlock = uint64(block.number);
        emit MraResumed(low, high, me);
    }

    /// @notice Terminates the MRA with `partner` (proposed, active or suspended); called by either
    /// party's anchorer (even while its authority is suspended). A new proposal may follow.
    /// @param partner The other authority.
    function terminateMra(bytes2 partner) external {
        bytes2 me = _callerCountry(false);
        (bytes4 key, bytes2 low, bytes2 high) = _pair(me, partner);
        Mra storage m = _mras[key];
        uint8 state = m.state;
        if (state == MRA_NONE || state == MRA_TERMINATED) revert BadMraState(me, partner, state);
        m.state = MRA_TERMINATED;
        m.suspendedBy = bytes2(0);
        m.sinceBlock = uint64(block.number);
        emit MraTerminated(low, high, me);
    }

    // ---------------------------------------------------------------- views

    /// @notice The authority an address currently anchors for.
    /// @param anchorer The address.
    /// @return country Its country, or 0x0000 when it is not a current anchorer.
    /// @return active Whether that authority is active (false when `country` is 0x0000).
    function authorityOf(address anchorer) external view returns (bytes2 country, bool active) {
        country = _countryOfAnchorer[anchorer];
        if (country == bytes2(0)) return (country, false);
        Authority storage a = _authorities[country];
        if (a.anchorer != anchorer) return (bytes2(0), false);
        return (country, a.active);
    }

    /// @notice An authority's record; all zero when `country` was never admitted.
    /// @param country ISO alpha-2 code.
    /// @return did Its DID.
    /// @return anchorer Its current anchorer.
    /// @return active Whether it is active.
    /// @return admittedAtBlock Block of admission.
    function authority(bytes2 country)
        external
        view
        returns (string memory did, address anchorer, bool active, uint64 admittedAtBlock)
    {
        Authority storage a = _authorities[country];
        return (a.did, a.anchorer, a.active, a.admittedAtBlock);
    }

    /// @notice Number of authorities ever admitted (suspended ones included).
    /// @return The count.
    function authorityCount() external view returns (uint256) {
        return _countries.length;
    }

    /// @notice The country admitted at position `index` (admission order).
    /// @param index Zero-based position, below `authorityCount()`.
    /// @return The country code.
    function countryAt(uint256 index) external view returns (bytes2) {
        return _countries[index];
    }

    /// @notice All admitted countries, in admission order.
    /// @return The country codes.
    function countries() external view returns (bytes2[] memory) {
        return _countries;
    }

    /// @notice The MRA between `a` and `b` (symmetric: mra(a, b) == mra(b, a)).
    /// @param a One country.
    /// @param b The other country.
    /// @return state 0 none, 1 proposed, 2 active, 3 suspended, 4 terminated.
    /// @return scope Scope bitmask (1 security and safety, 2 customs simplifications, 4 full).
    /// @return proposer Country that made the (last) proposal.
    /// @return sinceBlock Block of the last state change.
    function mra(bytes2 a, bytes2 b) external view returns (uint8 state, uint8 scope, bytes2 proposer, uint64 sinceBlock) {
        (bytes4 key,,) = _pair(a, b);
        Mra storage m = _mras[key];
        return (m.state, m.scope, m.proposer, m.sinceBlock);
    }

    /// @notice Which party suspended the MRA between `a` and `b` (0x0000 unless it is suspended).
    /// @param a One country.
    /// @param b The other country.
    /// @return The suspending country, the only one that may resume.
    function mraSuspendedBy(bytes2 a, bytes2 b) external view returns (bytes2) {
        (bytes4 key,,) = _pair(a, b);
        return _mras[key].suspendedBy;
    }

    // ---------------------------------------------------------------- internals

    function _existing(bytes2 country) private view returns (Authority storage a) {
        a = _authorities[country];
        if (a.anchorer == address(0)) revert UnknownAuthority(country);
    }

    /// @dev Country of the caller as current anchorer; optionally requires the authority to be active.
    function _callerCountry(bool requireActive) private view returns (bytes2 country) {
        address sender = _msgSender();
        country = _countryOfAnchorer[sender];
        if (country == bytes2(0)) revert NotAnchorer(sender);
        Authority storage a = _authorities[country];
        if (a.anchorer != sender) revert NotAnchorer(sender);
        if (requireActive && !a.active) revert AuthorityNotActive(country);
    }

    function _pair(bytes2 a, bytes2 b) private pure returns (bytes4 key, bytes2 low, bytes2 high) {
        (low, high) = a < b ? (a, b) : (b, a);
        key = bytes4(uint32(uint16(low)) << 16 | uint32(uint16(high)));
    }

    function _checkCountry(bytes2 country) private pure {
        uint8 c0 = uint8(country[0]);
        uint8 c1 = uint8(country[1]);
        if (c0 < 0x41 || c0 > 0x5a || c1 < 0x41 || c1 > 0x5a) revert InvalidCountry(country);
    }
}
