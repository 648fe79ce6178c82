/** The site daemon's public face: making and opening a site, the appliance boundary, pairing, groups. */
export { initSite, Site, type InitOptions, type InitResult, type OpenOptions, type ApplianceContext } from "./site.js";
export { readConfig, SITE_NAME, type SiteConfig } from "./config.js";
export { siteLayout, writeFileAtomic, type SiteLayout } from "./files.js";
export { fingerprintOf, type SiteIdentity } from "./identity.js";
export type { SiteContext, SiteEndpoints } from "./context.js";
export type * from "./appliance.js";
export { nbdUri } from "./appliance.js";
export { LocalAppliance, exportName } from "./local-appliance.js";
export { ReplicatingAppliance, type ReplicatingApplianceOptions } from "./replicating-appliance.js";
export { createPairingToken, pairWith, acceptPairing, siteCard, announceEndpoints, updatePeerEndpoints, setPeerBandwidth, type SiteCard } from "./pairing.js";
export { decodePairingToken, encodePairingToken, type PairingToken } from "./pairing-token.js";
export { callPeer, PeerUnauthenticatedError } from "./peer-client.js";
export { createGroup, updateGroup, deleteGroup, addVm, updateVm, removeVm, receiveGroup, dropGroup, applianceSpec, type VmInput, type VmComputeChange, type GroupDefinition } from "./group-ops.js";
export { groupStatus, refreshStates, addCheckpoint, listCheckpoints, type GroupStatusView, type ListedCheckpoint } from "./status.js";
export { Recovery, type Report } from "./recovery.js";
export { requestRecovery, runHere, listTasks, getTask, listReports, getReport, type RecoveryRequest } from "./recovery-requests.js";
export { becomeRecoverySite, quiesceForMove, unquiesce } from "./reverse.js";
export { DemoWorkload, type WorkloadTarget } from "./demo-workload.js";
