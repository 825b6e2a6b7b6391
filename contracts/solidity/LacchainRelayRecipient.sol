// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title LacchainRelayRecipient
/// @notice Base for contracts that accept transactions relayed by LACChain's gas-model RelayHub.
/// @dev On LACChain a writer node wraps the user's signed transaction and the RelayHub (`TxRelay`)
/// calls the target contract itself: `msg.sender` is then the RelayHub, the calldata is the user's
/// calldata with `abi.encode(nodeAddress, expiration)` (64 bytes) still appended, and the RelayHub
/// stores the signer of the original transaction so that the target can read it back through the
/// RelayHub's `getMsgSender()` view for the duration of the call. The original sender is therefore
/// NOT appended to the calldata (ERC-2771 style would read the low 20 bytes of `expiration`).
/// The ABI decoder ignores the 64 trailing bytes, so no function needs to strip them.
/// With `trustedForwarder == address(0)` (local chain, anvil) `_msgSender()` is plain `msg.sender`.
abstract contract LacchainRelayRecipient {
    /// @notice The RelayHub whose `getMsgSender()` names the original sender; address(0) disables relaying.
    address public immutable trustedForwarder;

    /// @notice The trusted forwarder did not answer `getMsgSender()` with one ABI word.
    error ForwarderCallFailed();

    /// @param forwarder LACChain RelayHub address, or address(0) where transactions are not relayed.
    constructor(address forwarder) {
        trustedForwarder = forwarder;
    }

    /// @notice Whether `forwarder` is the RelayHub this contract trusts to name the original sender.
    /// @param forwarder Address to test.
    /// @return True when `forwarder` is the (non-zero) trusted forwarder.
    function isTrustedForwarder(address forwarder) public view returns (bool) {
        return forwarder != address(0) && forwarder == trustedForwarder;
    }

    /// @dev The account that signed the transaction: `msg.sender`, or the RelayHub's
    /// `getMsgSender()` when the call comes from the trusted RelayHub.
    function _msgSender() internal view returns (address sender) {
        address forwarder = trustedForwarder;
        // msg.sender is never address(0), so this is false whenever relaying is disabled.
        if (msg.sender != forwarder) return msg.sender;
        bool ok;
        uint256 size;
        uint256 word;
        assembly ("memory-safe") {
            // getMsgSender() selector in scratch space; the answer overwrites it.
            mstore(0x00, shl(224, 0x7a6ce2e1))
            ok := staticcall(gas(), forwarder, 0x00, 0x04, 0x00, 0x20)
            size := returndatasize()
            word := mload(0x00)
        }
        if (!ok || size != 32 || word >> 160 != 0) revert ForwarderCallFailed();
        sender = address(uint160(word));
    }
}
