// The mesh's one identity setting: the SPIFFE trust domain. Workload certificates name it
// (spiffe://TRUST_DOMAIN/ns/NS/sa/SA) and the translators check peers against it (SAN matches,
// AuthorizationPolicy principals), so both read it from here and from nowhere else. Istio's
// default: cluster.local, independent of the DNS cluster domain.
export const DEFAULT_TRUST_DOMAIN = "cluster.local";
