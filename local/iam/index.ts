export { checkConditionBlock, type RequestContext, UnsupportedConditionError } from './conditions';
export {
  type AuthorizationRequest,
  authorize,
  type CallerPrincipal,
  type Decision,
  type PoliciesInForce,
} from './evaluate';
export { type PolicyDocument, type PolicyStatement, parsePolicyDocument } from './policy-document';
