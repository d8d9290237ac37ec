// The SDS names of a workload's own mesh secrets, as Istio names them: the certificate chain and
// key, and the trust bundle (the mesh roots). Translators name them in what proxies are sent;
// validation keeps gateway credentials from taking them (a gateway's own secrets share its SDS).

/** The SDS name of the workload's certificate chain and key. */
export const SDS_WORKLOAD_CERT = "default";
/** The SDS name of the trust bundle (the mesh roots). */
export const SDS_ROOT_CA = "ROOTCA";
