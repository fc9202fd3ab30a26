export { fitInOneMessage, messageBudget, readResultPrefix, spillResult } from "./result-store.ts";
