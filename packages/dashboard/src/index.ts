export { startDashboard, type Dashboard, type DashboardOptions } from "./dashboard-server.ts";
export { RequestViews, type CallView, type RequestView, type TurnView } from "./request-views.ts";
export { readCluster } from "./cluster-status.ts";
export type { ClusterView, ConsumerLagView, ScopeView, ServiceView, ToolView } from "./cluster-view.ts";
