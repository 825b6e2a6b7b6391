#!/usr/bin/env bash
# End-to-end smoke test of the committed artifacts on a throw-away anvil (default port 8599):
# deploy with `cast send --create`, admit authorities, anchor, read back, status batches, events via
# `cast logs`, MRAs, verifyLeaf against scripts/oz-merkle.mjs, anchorer rotation, the RelayHub path
# (solidity/test/LacchainRelayHubMock) and a raw transaction signed by scripts/lacchain-tx.mjs.
# Prints the gas used by each write. Exits non-zero at the first failed expectation.
# Needs `npm ci` in contracts/ first. Usage: [ANVIL_HARDFORK=paris] bash scripts/smoke.sh [port]
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${1:-8599}"
RPC="http://127.0.0.1:$PORT"
ANVIL=node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
CAST=node_modules/@foundry-rs/cast-linux-amd64/bin/cast
ZERO=0x0000000000000000000000000000000000000000

# anvil's default dev accounts 0-4.
GOV_PK=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
GOV=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266
MX_PK=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
MXA=0x70997970C51812dc3A010C7d01b50e0d17dc79C8
CO_PK=0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a
COA=0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC
N3_PK=0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6
N3=0x90F79bf6EB2c4f870365E785982E1f101E93b906
NODE=0xc6e2459991BfE27cca6d86722F35da23A1E4Cb97
MX=0x4d58 # "MX"
CO=0x434f # "CO"
CL=0x434c # "CL"

LOG=$(mktemp)
"$ANVIL" --host 127.0.0.1 --port "$PORT" --base-fee 0 --gas-price 0 ${ANVIL_HARDFORK:+--hardfork "$ANVIL_HARDFORK"} >"$LOG" 2>&1 &
ANVIL_PID=$!
trap 'kill "$ANVIL_PID" 2>/dev/null || true; wait "$ANVIL_PID" 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 50); do "$CAST" block-number --rpc-url "$RPC" >/dev/null 2>&1 && break; sleep 0.2; done

fail() { echo "FAIL: $*" >&2; exit 1; }
eq() { [ "$1" == "$2" ] || fail "$3: got '$1', expected '$2'"; echo "ok   $3"; }
json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);const f=new Function("v","return "+process.argv[1]);const r=f(v);console.log(typeof r==="string"?r:JSON.stringify(r))})' "$1"; }
bytecode() { node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).bytecode.object)' "$1"; }
call() { "$CAST" call --rpc-url "$RPC" "$@"; }

# send LABEL PK TO SIG ARGS... : mined, status 1; prints gas; sets RECEIPT.
send() {
  local label=$1 pk=$2; shift 2
  RECEIPT=$("$CAST" send --rpc-url "$RPC" --private-key "$pk" --legacy --json "$@")
  [ "$(echo "$RECEIPT" | json 'v.status')" == "0x1" ] || fail "$label reverted"
  printf 'gas  %-52s %7d\n' "$label" "$(echo "$RECEIPT" | json 'parseInt(v.gasUsed)')"
}
# reverts LABEL FROM TO ERROR_SIGNATURE SIG ARGS... : the call reverts with that custom error.
reverts() {
  local label=$1 from=$2 to=$3 err=$4; shift 4
  local sel out
  sel=$("$CAST" sig "$err")
  if out=$(call --from "$from" "$to" "$@" 2>&1); then fail "$label did not revert"; fi
  echo "$out" | grep -qi "$sel" || fail "$label: expected $err ($sel), got: $out"
  echo "ok   $label reverts $err"
}

echo "== deploy"
AUTH_INIT=$(bytecode artifacts/AuthorityRegistry.json)$("$CAST" abi-encode "c(address,address)" "$GOV" "$ZERO" | cut -c3-)
send "deploy AuthorityRegistry" "$GOV_PK" --create "$AUTH_INIT"
AUTH=$(echo "$RECEIPT" | json 'v.contractAddress')
ANCH_INIT=$(bytecode artifacts/AnchorRegistry.json)$("$CAST" abi-encode "c(address,address)" "$AUTH" "$ZERO" | cut -c3-)
send "deploy AnchorRegistry" "$GOV_PK" --create "$ANCH_INIT"
ANCH=$(echo "$RECEIPT" | json 'v.contractAddress')
eq "$(call "$ANCH" 'registry()(address)')" "$("$CAST" to-check-sum-address "$AUTH")" "AnchorRegistry.registry"
eq "$(call "$AUTH" 'governance()(address)')" "$GOV" "governance"

echo "== authorities"
send "admitAuthority MX" "$GOV_PK" "$AUTH" 'admitAuthority(bytes2,string,address)' $MX "did:lac1:mx-sat" $MXA
send "admitAuthority CO" "$GOV_PK" "$AUTH" 'admitAuthority(bytes2,string,address)' $CO "did:lac1:co-dian" $COA
reverts "admit MX twice" "$GOV" "$AUTH" 'AuthorityExists(bytes2)' 'admitAuthority(bytes2,string,address)' $MX "did:x" $N3
reverts "admit with used anchorer" "$GOV" "$AUTH" 'AnchorerInUse(address,bytes2)' 'admitAuthority(bytes2,string,address)' $CL "did:x" $MXA
reverts "admit lower-case code" "$GOV" "$AUTH" 'InvalidCountry(bytes2)' 'admitAuthority(bytes2,string,address)' 0x636c "did:x" $N3
reverts "admit by non-governance" "$MXA" "$AUTH" 'NotGovernance(address)' 'admitAuthority(bytes2,string,address)' $CL "did:x" $N3
eq "$(call "$AUTH" 'authorityOf(address)(bytes2,bool)' $MXA | tr '\n' ' ')" "$MX true " "authorityOf(MX anchorer)"
eq "$(call "$AUTH" 'authorityOf(address)(bytes2,bool)' $N3 | tr '\n' ' ')" "0x0000 false " "authorityOf(stranger)"
eq "$(call "$AUTH" 'authority(bytes2)(string,address,bool,uint64)' $CO | head -3 | tr '\n' ' ')" "\"did:lac1:co-dian\" $COA true " "authority(CO)"
eq "$(call "$AUTH" 'authorityCount()(uint256)')" "2" "authorityCount"
eq "$(call "$AUTH" 'countries()(bytes2[])')" "[$MX, $CO]" "countries"
send "setDid CO (by its anchorer)" "$CO_PK" "$AUTH" 'setDid(bytes2,string)' $CO "did:lac1:co-dian-2"

echo "== anchors"
D1=0x$(printf 'a1%.0s' $(seq 32)); D2=0x$(printf 'b2%.0s' $(seq 32)); D3=0x$(printf 'c3%.0s' $(seq 32))
TREE=$(echo "{\"digests\":[\"$D1\",\"$D2\",\"$D3\"]}" | node scripts/oz-merkle.mjs)
ROOT=$(echo "$TREE" | json 'v.root')
send "anchorBatch (first of MX: new lane + anchorer)" "$MX_PK" "$ANCH" 'anchorBatch(bytes32,uint32,uint64)' "$ROOT" 3 1
BLOCK1=$(echo "$RECEIPT" | json 'parseInt(v.blockNumber)')
eq "$(call "$ANCH" 'anchorOf(bytes32)(bytes2,address,uint32,uint64,uint64,uint64)' "$ROOT" | head -5 | tr '\n' ' ')" "$MX $MXA 3 1 $BLOCK1 " "anchorOf(root)"
eq "$(call "$ANCH" 'isAnchoredBy(bytes32,bytes2)(bool)' "$ROOT" $MX)" "true" "isAnchoredBy(root, MX)"
eq "$(call "$ANCH" 'isAnchoredBy(bytes32,bytes2)(bool)' "$ROOT" $CO)" "false" "isAnchoredBy(root, CO)"
eq "$(call "$ANCH" 'lastSequence(bytes2)(uint64)' $MX)" "1" "lastSequence(MX)"
eq "$(call "$ANCH" 'anchorOf(bytes32)(bytes2,address,uint32,uint64,uint64,uint64)' 0x$(printf '00%.0s' $(seq 32)) | tr '\n' ' ')" "0x0000 $ZERO 0 0 0 0 " "anchorOf(unknown)"
reverts "same root again" "$MXA" "$ANCH" 'AlreadyAnchored(bytes32)' 'anchorBatch(bytes32,uint32,uint64)' "$ROOT" 3 2
reverts "sequence gap" "$MXA" "$ANCH" 'BadSequence(uint64,uint64)' 'anchorBatch(bytes32,uint32,uint64)' 0x$(printf '01%.0s' $(seq 32)) 3 5
reverts "anchor by stranger" "$N3" "$ANCH" 'NotAnchorer(address)' 'anchorBatch(bytes32,uint32,uint64)' 0x$(printf '01%.0s' $(seq 32)) 3 1
reverts "zero root" "$MXA" "$ANCH" 'ZeroRoot()' 'anchorBatch(bytes32,uint32,uint64)' 0x$(printf '00%.0s' $(seq 32)) 3 2
reverts "empty batch" "$MXA" "$ANCH" 'EmptyBatch()' 'anchorBatch(bytes32,uint32,uint64)' 0x$(printf '01%.0s' $(seq 32)) 0 2
send "anchorBatch (steady state)" "$MX_PK" "$ANCH" 'anchorBatch(bytes32,uint32,uint64)' 0x$(printf '02%.0s' $(seq 32)) 1000 2
send "anchorBatch (steady state)" "$MX_PK" "$ANCH" 'anchorBatch(bytes32,uint32,uint64)' 0x$(printf '03%.0s' $(seq 32)) 7 3
send "anchorBatch (first of CO)" "$CO_PK" "$ANCH" 'anchorBatch(bytes32,uint32,uint64)' 0x$(printf '04%.0s' $(seq 32)) 7 1

echo "== Merkle proofs"
for D in $D1 $D2 $D3; do
  LEAF=$(echo "$TREE" | json "v.leaves['$D']")
  PROOF=$(echo "$TREE" | json "'[' + v.proofs['$D'].join(',') + ']'")
  eq "$(call "$ANCH" 'leafOf(bytes32)(bytes32)' "$D")" "$LEAF" "leafOf == oz leaf (${D:0:6}..)"
  eq "$(call "$ANCH" 'verifyLeaf(bytes32,bytes32[],bytes32)(bool)' "$ROOT" "$PROOF" "$LEAF")" "true" "verifyLeaf oz proof (${D:0:6}..)"
done
eq "$(call "$ANCH" 'verifyLeaf(bytes32,bytes32[],bytes32)(bool)' "$ROOT" "$(echo "$TREE" | json "'[' + v.proofs['$D1'].join(',') + ']'")" "$(echo "$TREE" | json "v.leaves['$D2']")")" "false" "verifyLeaf wrong leaf"

echo "== status batches"
FROM=$("$CAST" block-number --rpc-url "$RPC")
send "recordStatusBatch 3 entries" "$MX_PK" "$ANCH" 'recordStatusBatch(uint64,bytes32[],uint8[])' 4 "[$D1,$D2,$D3]" "[1,2,4]"
STATUS_TX_BLOCK=$(echo "$RECEIPT" | json 'parseInt(v.blockNumber)')
eq "$(echo "$RECEIPT" | json 'v.logs.length')" "4" "3 StatusChanged + 1 StatusBatchRecorded in receipt"
eq "$("$CAST" logs --rpc-url "$RPC" --from-block "$STATUS_TX_BLOCK" --address "$ANCH" 'StatusChanged(bytes2 indexed,bytes32 indexed,uint8,uint64)' $MX --json | json 'v.map(l => l.topics[2] + ":" + parseInt(l.data.slice(2,66),16) + ":" + parseInt(l.data.slice(66),16)).join(" ")')" \
   "$D1:1:4 $D2:2:4 $D3:4:4" "cast logs StatusChanged(MX) digest:status:sequence"
eq "$("$CAST" logs --rpc-url "$RPC" --from-block "$STATUS_TX_BLOCK" --address "$ANCH" 'StatusBatchRecorded(bytes2 indexed,uint64 indexed,uint32)' --json | json 'v.map(l => parseInt(l.topics[2],16) + ":" + parseInt(l.data,16)).join(" ")')" "4:3" "cast logs StatusBatchRecorded sequence:count"
eq "$("$CAST" logs --rpc-url "$RPC" --from-block 0 --address "$ANCH" 'BatchAnchored(bytes2 indexed,uint64 indexed,bytes32 indexed,uint32)' $MX --json | json 'v.map(l => parseInt(l.topics[2],16) + ":" + parseInt(l.data,16)).join(" ")')" "1:3 2:1000 3:7" "cast logs BatchAnchored(MX) sequence:count"
eq "$(call "$ANCH" 'lastSequence(bytes2)(uint64)' $MX)" "4" "status batch took sequence 4"
send "recordStatusBatch 1 entry" "$MX_PK" "$ANCH" 'recordStatusBatch(uint64,bytes32[],uint8[])' 5 "[$D1]" "[3]"
G1=$(echo "$RECEIPT" | json 'parseInt(v.gasUsed)')
DIG100=$(node -e 'const a=[];for(let i=1;i<=100;i++)a.push("0x"+i.toString(16).padStart(2,"0").repeat(32));console.log("["+a.join(",")+"]")')
ST100=$(node -e 'const a=[];for(let i=0;i<100;i++)a.push(1+i%7);console.log("["+a.join(",")+"]")')
send "recordStatusBatch 100 entries" "$MX_PK" "$ANCH" 'recordStatusBatch(uint64,bytes32[],uint8[])' 6 "$DIG100" "$ST100"
G100=$(echo "$RECEIPT" | json 'parseInt(v.gasUsed)')
echo "gas  per status entry (100-entry batch vs 1-entry) $(( (G100 - G1) / 99 ))"
reverts "status 0" "$MXA" "$ANCH" 'InvalidStatus(uint256,uint8)' 'recordStatusBatch(uint64,bytes32[],uint8[])' 7 "[$D1,$D2]" "[1,0]"
reverts "status 8" "$MXA" "$ANCH" 'InvalidStatus(uint256,uint8)' 'recordStatusBatch(uint64,bytes32[],uint8[])' 7 "[$D1]" "[8]"
reverts "length mismatch" "$MXA" "$ANCH" 'LengthMismatch(uint256,uint256)' 'recordStatusBatch(uint64,bytes32[],uint8[])' 7 "[$D1,$D2]" "[1]"
reverts "empty status batch" "$MXA" "$ANCH" 'EmptyBatch()' 'recordStatusBatch(uint64,bytes32[],uint8[])' 7 "[]" "[]"
reverts "status batch sequence reuse" "$MXA" "$ANCH" 'BadSequence(uint64,uint64)' 'recordStatusBatch(uint64,bytes32[],uint8[])' 6 "[$D1]" "[1]"

echo "== authority suspension and anchorer rotation"
send "suspendAuthority MX" "$GOV_PK" "$AUTH" 'suspendAuthority(bytes2)' $MX
reverts "anchor while suspended" "$MXA" "$ANCH" 'AuthorityNotActive(bytes2)' 'anchorBatch(bytes32,uint32,uint64)' 0x$(printf '05%.0s' $(seq 32)) 1 7
reverts "anchorer rotates while suspended" "$MXA" "$AUTH" 'NotAuthorized(address,bytes2)' 'rotateAnchorer(bytes2,address)' $MX $N3
send "reinstateAuthority MX" "$GOV_PK" "$AUTH" 'reinstateAuthority(bytes2)' $MX
send "rotateAnchorer MX (by its anchorer)" "$MX_PK" "$AUTH" 'rotateAnchorer(bytes2,address)' $MX $N3
reverts "old anchorer anchors" "$MXA" "$ANCH" 'NotAnchorer(address)' 'anchorBatch(bytes32,uint32,uint64)' 0x$(printf '05%.0s' $(seq 32)) 1 7
reverts "rotate to another authority's anchorer" "$GOV" "$AUTH" 'AnchorerInUse(address,bytes2)' 'rotateAnchorer(bytes2,address)' $CO $N3
send "anchorBatch (first by new anchorer)" "$N3_PK" "$ANCH" 'anchorBatch(bytes32,uint32,uint64)' 0x$(printf '05%.0s' $(seq 32)) 1 7
eq "$(call "$ANCH" 'anchorOf(bytes32)(bytes2,address,uint32,uint64,uint64,uint64)' 0x$(printf '05%.0s' $(seq 32)) | sed -n 2p)" "$N3" "anchorOf(new root).anchorer = new anchorer"
eq "$(call "$ANCH" 'anchorOf(bytes32)(bytes2,address,uint32,uint64,uint64,uint64)' "$ROOT" | sed -n 2p)" "$MXA" "anchorOf(old root).anchorer = old anchorer"

echo "== MRAs"
send "proposeMra CO->MX scope 1" "$CO_PK" "$AUTH" 'proposeMra(bytes2,uint8)' $MX 1
eq "$(call "$AUTH" 'mra(bytes2,bytes2)(uint8,uint8,bytes2,uint64)' $MX $CO | head -3 | tr '\n' ' ')" "1 1 $CO " "mra(MX,CO) proposed"
reverts "accept with other scope" "$N3" "$AUTH" 'ScopeMismatch(uint8,uint8)' 'acceptMra(bytes2,uint8)' $CO 3
reverts "proposer accepts own" "$COA" "$AUTH" 'ProposerCannotAccept(bytes2)' 'acceptMra(bytes2,uint8)' $MX 1
reverts "scope 8" "$N3" "$AUTH" 'InvalidScope(uint8)' 'proposeMra(bytes2,uint8)' $CO 8
reverts "propose to unknown authority" "$N3" "$AUTH" 'UnknownAuthority(bytes2)' 'proposeMra(bytes2,uint8)' $CL 1
send "acceptMra by MX" "$N3_PK" "$AUTH" 'acceptMra(bytes2,uint8)' $CO 1
eq "$(call "$AUTH" 'mra(bytes2,bytes2)(uint8,uint8,bytes2,uint64)' $CO $MX | head -3 | tr '\n' ' ')" "2 1 $CO " "mra(CO,MX) active (symmetric)"
send "suspendMra by MX" "$N3_PK" "$AUTH" 'suspendMra(bytes2)' $CO
reverts "resume by the other party" "$COA" "$AUTH" 'NotSuspender(bytes2)' 'resumeMra(bytes2)' $MX
send "resumeMra by MX" "$N3_PK" "$AUTH" 'resumeMra(bytes2)' $CO
send "terminateMra by CO" "$CO_PK" "$AUTH" 'terminateMra(bytes2)' $MX
eq "$(call "$AUTH" 'mra(bytes2,bytes2)(uint8,uint8,bytes2,uint64)' $MX $CO | head -1)" "4" "mra terminated"
send "proposeMra again MX->CO scope 7" "$N3_PK" "$AUTH" 'proposeMra(bytes2,uint8)' $CO 7
eq "$("$CAST" logs --rpc-url "$RPC" --from-block 0 --address "$AUTH" 'MraProposed(bytes2 indexed,bytes2 indexed,bytes2,uint8)' $CO $MX --json | json 'v.length')" "2" "cast logs MraProposed(CO,MX) (ordered pair)"
for E in 'MraAccepted(bytes2 indexed,bytes2 indexed,bytes2,uint8)' 'MraSuspended(bytes2 indexed,bytes2 indexed,bytes2)' 'MraResumed(bytes2 indexed,bytes2 indexed,bytes2)' 'MraTerminated(bytes2 indexed,bytes2 indexed,bytes2)'; do
  eq "$("$CAST" logs --rpc-url "$RPC" --from-block 0 --address "$AUTH" "$E" --json | json 'v.length')" "1" "cast logs ${E%%(*}"
done

echo "== LACChain RelayHub path (mock hub, original sender via getMsgSender())"
send "deploy LacchainRelayHubMock" "$GOV_PK" --create "$(bytecode artifacts/test/LacchainRelayHubMock.json)"
HUB=$(echo "$RECEIPT" | json 'v.contractAddress')
send "deploy AuthorityRegistry(forwarder=hub)" "$GOV_PK" --create "$(bytecode artifacts/AuthorityRegistry.json)$("$CAST" abi-encode "c(address,address)" "$GOV" "$HUB" | cut -c3-)"
AUTH2=$(echo "$RECEIPT" | json 'v.contractAddress')
send "deploy AnchorRegistry(forwarder=hub)" "$GOV_PK" --create "$(bytecode artifacts/AnchorRegistry.json)$("$CAST" abi-encode "c(address,address)" "$AUTH2" "$HUB" | cut -c3-)"
ANCH2=$(echo "$RECEIPT" | json 'v.contractAddress')
eq "$(call "$AUTH2" 'isTrustedForwarder(address)(bool)' "$HUB")" "true" "isTrustedForwarder(hub)"
EXP=1736790000
send "relay admitAuthority for governance (paid by N3)" "$N3_PK" "$HUB" 'relay(address,bytes,address,address,uint256)' "$AUTH2" "$("$CAST" calldata 'admitAuthority(bytes2,string,address)' $CL "did:lac1:cl-sna" $COA)" "$GOV" "$NODE" "$EXP"
eq "$(call "$AUTH2" 'authorityOf(address)(bytes2,bool)' $COA | tr '\n' ' ')" "$CL true " "relayed admitAuthority took effect"
reverts "relay claiming a non-governance sender" "$N3" "$HUB" 'RelayedCallFailed(bytes)' 'relay(address,bytes,address,address,uint256)' "$AUTH2" "$("$CAST" calldata 'admitAuthority(bytes2,string,address)' $MX "did:x" $MXA)" "$N3" "$NODE" "$EXP"
R2=0x$(printf '06%.0s' $(seq 32))
send "relay anchorBatch (+64-byte suffix) for CL anchorer" "$N3_PK" "$HUB" 'relay(address,bytes,address,address,uint256)' "$ANCH2" "$("$CAST" calldata 'anchorBatch(bytes32,uint32,uint64)' $R2 2 1)" "$COA" "$NODE" "$EXP"
eq "$(call "$ANCH2" 'anchorOf(bytes32)(bytes2,address,uint32,uint64,uint64,uint64)' $R2 | head -4 | tr '\n' ' ')" "$CL $COA 2 1 " "relayed anchor recorded for the original sender"
send "direct anchorBatch on a forwarder-enabled registry" "$CO_PK" "$ANCH2" 'anchorBatch(bytes32,uint32,uint64)' 0x$(printf '07%.0s' $(seq 32)) 2 2

echo "== raw transaction from scripts/lacchain-tx.mjs (gas price 0, 64-byte suffix, pre-EIP-155)"
NONCE=$("$CAST" nonce --rpc-url "$RPC" "$COA")
DATA=$("$CAST" calldata 'anchorBatch(bytes32,uint32,uint64)' 0x$(printf '08%.0s' $(seq 32)) 5 2)
SIGNED=$(echo "{\"privateKey\":\"$CO_PK\",\"chainId\":648540,\"nonce\":$NONCE,\"to\":\"$ANCH\",\"data\":\"$DATA\",\"gasLimit\":\"200000\",\"nodeAddress\":\"$NODE\",\"expiration\":$EXP}" | node scripts/lacchain-tx.mjs)
CALLDATA=$(echo "$SIGNED" | json 'v.calldata')
eq "$CALLDATA" "$DATA$("$CAST" abi-encode "f(address,uint256)" "$NODE" "$EXP" | cut -c3-)" "signed calldata = data ++ abi.encode(nodeAddress, expiration)"
HASH=$(echo "$SIGNED" | json 'v.hash')
"$CAST" publish --rpc-url "$RPC" "$(echo "$SIGNED" | json 'v.raw')" >/dev/null
RECEIPT=$("$CAST" receipt --rpc-url "$RPC" --json "$HASH")
eq "$(echo "$RECEIPT" | json 'v.status')" "0x1" "raw lacchain tx mined under hash = keccak256(raw)"
printf 'gas  %-52s %7d\n' "anchorBatch with 64-byte gas-model suffix" "$(echo "$RECEIPT" | json 'parseInt(v.gasUsed)')"
eq "$(call "$ANCH" 'anchorOf(bytes32)(bytes2,address,uint32,uint64,uint64,uint64)' 0x$(printf '08%.0s' $(seq 32)) | head -4 | tr '\n' ' ')" "$CO $COA 5 2 " "anchor from the raw lacchain tx"
VG=$("$CAST" tx --rpc-url "$RPC" "$HASH" --json | json '(parseInt(v.v) <= 28 ? "pre-EIP-155" : "EIP-155 v=" + parseInt(v.v)) + ", gas price " + parseInt(v.gasPrice)')
eq "$VG" "pre-EIP-155, gas price 0" "raw lacchain tx signature kind and gas price"

NONCE=$("$CAST" nonce --rpc-url "$RPC" "$GOV")
SIGNED=$(echo "{\"privateKey\":\"$GOV_PK\",\"chainId\":648540,\"nonce\":$NONCE,\"to\":null,\"data\":\"$AUTH_INIT\",\"gasLimit\":\"3000000\",\"nodeAddress\":\"$NODE\",\"expiration\":$EXP}" | node scripts/lacchain-tx.mjs)
"$CAST" publish --rpc-url "$RPC" "$(echo "$SIGNED" | json 'v.raw')" >/dev/null
RECEIPT=$("$CAST" receipt --rpc-url "$RPC" --json "$(echo "$SIGNED" | json 'v.hash')")
eq "$(echo "$RECEIPT" | json 'v.status')" "0x1" "raw lacchain deployment (constructor args followed by the 64-byte suffix)"
eq "$(call "$(echo "$RECEIPT" | json 'v.contractAddress')" 'governance()(address)')" "$GOV" "constructor decoded its arguments despite the suffix"

echo "smoke: all checks passed"
