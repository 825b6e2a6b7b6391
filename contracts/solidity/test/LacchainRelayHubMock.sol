// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title LacchainRelayHubMock
/// @notice TEST ONLY. Mimics how LACChain's RelayHub (TxRelay.relayMetaTx) calls a target: it stores
/// the original sender for `getMsgSender()`, then calls the target with the user's calldata plus the
/// 64 bytes `abi.encode(nodeAddress, expiration)` still appended. No signature check: anyone may
/// claim any sender, so never trust this contract as a forwarder outside tests.
contract LacchainRelayHubMock {
    address private _msgSender;

    /// @notice The call failed; carries the target's revert data.
    /// @param returnData The target's revert data.
    error RelayedCallFailed(bytes returnData);

    /// @notice The original sender of the call being relayed (LACChain RelayHub interface).
    /// @return The sender set by `relay` (address(0) outside a relayed call).
    function getMsgSender() external view returns (address) {
        return _msgSender;
    }

    /// @notice Calls `to` with `data ++ abi.encode(nodeAddress, expiration)` as if relayed for `from`.
    /// @param to The target contract.
    /// @param data The user's calldata.
    /// @param from The original sender to report.
    /// @param nodeAddress The writer node address appended by the gas model.
    /// @param expiration The expiration appended by the gas model.
    /// @return The target's return data.
    function relay(address to, bytes calldata data, address from, address nodeAddress, uint256 expiration)
        external
        returns (bytes memory)
    {
        _msgSender = from;
        (bool ok, bytes memory ret) = to.call(bytes.concat(data, abi.encode(nodeAddress, expiration)));
        _msgSender = address(0);
        if (!ok) revert RelayedCallFailed(ret);
        return ret;
    }
}
