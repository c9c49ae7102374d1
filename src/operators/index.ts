// User operators composed into the proposal, apply and feed paths of a member.
export { type ApplyPath, startApplyPath } from "./apply-path.js";
export { evaluateProposal, withProposalOperator } from "./proposal-path.js";
export { type RedactOptions, redactValues } from "./redact-values.js";
export {
  type AppliedRequest,
  type ApplyOperator,
  composeOperators,
  type FeedOperator,
  type Operators,
  type Proposal,
  type ProposalOperator,
} from "./types.js";
export { type WiredOperators, wireOperators } from "./wire.js";
