export {
  SpeculationLedgerStore,
  claimCall,
  claimCalls,
  closeRounds,
  registerCalls,
  type SpeculationCandidate,
} from "./speculation-ledger.ts";
