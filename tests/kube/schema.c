/*
 * What the fake knows about each kind: its fields (a small schema language
 * below, from the Kubernetes 1.32 API types, deep where viva writes and
 * open ("*") where it does not), which lists merge by which keys (for
 * strategic merge patch and server-side apply), the JSON types Go's decoder
 * insists on, the defaults the API server fills in, and the validation it
 * refuses with 422 — with the API server's messages.
 */
#include "tests/kube/internal.h"
#include "bot/lib/alloc.h"
#include "bot/lib/cron.h"
#include "bot/lib/strbuf.h"

#include <ctype.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The schema language. A type is `Name={field:spec ...}`. A spec is a leaf
 *   s string  i int32  l int64  b bool  n float64  o IntOrString
 *   q Quantity  t time (string)  B base64 bytes  * anything (not checked)
 * or a type Name, `%spec` (a map of string to spec), or a list
 * `[]spec` (atomic), `[k1,k2]spec` (a map-list merged by those keys; the
 * first is strategic merge patch's patchMergeKey) or `[+]spec` (a set).
 */
static const char SCHEMA[] =
	"ObjectMeta={name:s generateName:s namespace:s selfLink:s uid:s resourceVersion:s generation:l "
	"  creationTimestamp:t deletionTimestamp:t deletionGracePeriodSeconds:l labels:%s annotations:%s "
	"  ownerReferences:[uid]OwnerReference finalizers:[+]s managedFields:[]ManagedFieldsEntry}\n"
	"OwnerReference={apiVersion:s kind:s name:s uid:s controller:b blockOwnerDeletion:b}\n"
	"ManagedFieldsEntry={manager:s operation:s apiVersion:s time:t fieldsType:s fieldsV1:* subresource:s}\n"
	"LabelSelector={matchLabels:%s matchExpressions:[]LabelSelectorRequirement}\n"
	"LabelSelectorRequirement={key:s operator:s values:[]s}\n"
	"LocalObjectReference={name:s}\n"
	"PodTemplateSpec={metadata:ObjectMeta spec:PodSpec}\n"
	"PodSpec={volumes:[name]* initContainers:[name]Container containers:[name]Container "
	"  ephemeralContainers:[name]* restartPolicy:s terminationGracePeriodSeconds:l activeDeadlineSeconds:l "
	"  dnsPolicy:s nodeSelector:%s serviceAccountName:s serviceAccount:s automountServiceAccountToken:b "
	"  nodeName:s hostNetwork:b hostPID:b hostIPC:b shareProcessNamespace:b securityContext:* "
	"  imagePullSecrets:[name]LocalObjectReference hostname:s subdomain:s affinity:* schedulerName:s "
	"  tolerations:[]* hostAliases:[ip]* priorityClassName:s priority:i dnsConfig:* readinessGates:[]* "
	"  runtimeClassName:s enableServiceLinks:b preemptionPolicy:s overhead:%q "
	"  topologySpreadConstraints:[topologyKey,whenUnsatisfiable]* setHostnameAsFQDN:b os:* hostUsers:b "
	"  schedulingGates:[name]* resourceClaims:[name]* resources:*}\n"
	"Container={name:s image:s command:[]s args:[]s workingDir:s ports:[containerPort,protocol]ContainerPort "
	"  envFrom:[]* env:[name]EnvVar resources:ResourceRequirements resizePolicy:[]* restartPolicy:s "
	"  volumeMounts:[mountPath]* volumeDevices:[devicePath]* livenessProbe:* readinessProbe:* startupProbe:* "
	"  lifecycle:* terminationMessagePath:s terminationMessagePolicy:s imagePullPolicy:s securityContext:* "
	"  stdin:b stdinOnce:b tty:b}\n"
	"ContainerPort={name:s hostPort:i containerPort:i protocol:s hostIP:s}\n"
	"EnvVar={name:s value:s valueFrom:*}\n"
	"ResourceRequirements={limits:%q requests:%q claims:[name]*}\n"
	/* apps/v1 */
	"Deployment={apiVersion:s kind:s metadata:ObjectMeta spec:DeploymentSpec status:DeploymentStatus}\n"
	"DeploymentSpec={replicas:i selector:LabelSelector template:PodTemplateSpec strategy:DeploymentStrategy "
	"  minReadySeconds:i revisionHistoryLimit:i paused:b progressDeadlineSeconds:i}\n"
	"DeploymentStrategy={type:s rollingUpdate:RollingUpdateDeployment}\n"
	"RollingUpdateDeployment={maxUnavailable:o maxSurge:o}\n"
	"DeploymentStatus={observedGeneration:l replicas:i updatedReplicas:i readyReplicas:i availableReplicas:i "
	"  unavailableReplicas:i terminatingReplicas:i conditions:[type]DeploymentCondition collisionCount:i}\n"
	"DeploymentCondition={type:s status:s lastUpdateTime:t lastTransitionTime:t reason:s message:s}\n"
	"ReplicaSet={apiVersion:s kind:s metadata:ObjectMeta spec:ReplicaSetSpec status:ReplicaSetStatus}\n"
	"ReplicaSetSpec={replicas:i minReadySeconds:i selector:LabelSelector template:PodTemplateSpec}\n"
	"ReplicaSetStatus={replicas:i fullyLabeledReplicas:i readyReplicas:i availableReplicas:i "
	"  terminatingReplicas:i observedGeneration:l conditions:[type]*}\n"
	"DaemonSet={apiVersion:s kind:s metadata:ObjectMeta spec:* status:*}\n"
	"StatefulSet={apiVersion:s kind:s metadata:ObjectMeta spec:* status:*}\n"
	/* batch/v1 */
	"Job={apiVersion:s kind:s metadata:ObjectMeta spec:JobSpec status:*}\n"
	"JobSpec={parallelism:i completions:i activeDeadlineSeconds:l podFailurePolicy:* successPolicy:* "
	"  backoffLimit:i backoffLimitPerIndex:i maxFailedIndexes:i selector:LabelSelector manualSelector:b "
	"  template:PodTemplateSpec ttlSecondsAfterFinished:i completionMode:s suspend:b podReplacementPolicy:s "
	"  managedBy:s}\n"
	"JobTemplateSpec={metadata:ObjectMeta spec:JobSpec}\n"
	"CronJob={apiVersion:s kind:s metadata:ObjectMeta spec:CronJobSpec status:CronJobStatus}\n"
	"CronJobSpec={schedule:s timeZone:s startingDeadlineSeconds:l concurrencyPolicy:s suspend:b "
	"  jobTemplate:JobTemplateSpec successfulJobsHistoryLimit:i failedJobsHistoryLimit:i}\n"
	"CronJobStatus={active:[]* lastScheduleTime:t lastSuccessfulTime:t}\n"
	/* core/v1 */
	"Service={apiVersion:s kind:s metadata:ObjectMeta spec:ServiceSpec status:ServiceStatus}\n"
	"ServiceSpec={ports:[port,protocol]ServicePort selector:%s clusterIP:s clusterIPs:[]s type:s "
	"  externalIPs:[]s sessionAffinity:s loadBalancerIP:s loadBalancerSourceRanges:[]s externalName:s "
	"  externalTrafficPolicy:s healthCheckNodePort:i publishNotReadyAddresses:b sessionAffinityConfig:* "
	"  ipFamilies:[]s ipFamilyPolicy:s allocateLoadBalancerNodePorts:b loadBalancerClass:s "
	"  internalTrafficPolicy:s trafficDistribution:s}\n"
	"ServicePort={name:s protocol:s appProtocol:s port:i targetPort:o nodePort:i}\n"
	"ServiceStatus={loadBalancer:* conditions:[type]*}\n"
	"ConfigMap={apiVersion:s kind:s metadata:ObjectMeta data:%s binaryData:%B immutable:b}\n"
	"Secret={apiVersion:s kind:s metadata:ObjectMeta data:%B stringData:%s type:s immutable:b}\n"
	"Namespace={apiVersion:s kind:s metadata:ObjectMeta spec:NamespaceSpec status:NamespaceStatus}\n"
	"NamespaceSpec={finalizers:[]s}\n"
	"NamespaceStatus={phase:s conditions:[type]*}\n"
	"Node={apiVersion:s kind:s metadata:ObjectMeta spec:NodeSpec status:*}\n"
	"NodeSpec={podCIDR:s podCIDRs:[]s providerID:s unschedulable:b taints:[]* configSource:* externalID:s}\n"
	"Pod={apiVersion:s kind:s metadata:ObjectMeta spec:PodSpec status:*}\n"
	"Event={apiVersion:s kind:s metadata:ObjectMeta involvedObject:* reason:s message:s source:* "
	"  firstTimestamp:t lastTimestamp:t count:i type:s eventTime:t series:* action:s related:* "
	"  reportingComponent:s reportingInstance:s}\n"
	"ServiceAccount={apiVersion:s kind:s metadata:ObjectMeta secrets:[name]* "
	"  imagePullSecrets:[name]LocalObjectReference automountServiceAccountToken:b}\n"
	"PersistentVolumeClaim={apiVersion:s kind:s metadata:ObjectMeta spec:PersistentVolumeClaimSpec status:*}\n"
	"PersistentVolumeClaimSpec={accessModes:[]s selector:LabelSelector resources:VolumeResourceRequirements "
	"  volumeName:s storageClassName:s volumeMode:s dataSource:* dataSourceRef:* volumeAttributesClassName:s}\n"
	"VolumeResourceRequirements={limits:%q requests:%q}\n"
	/* rbac.authorization.k8s.io/v1 */
	"Role={apiVersion:s kind:s metadata:ObjectMeta rules:[]PolicyRule}\n"
	"ClusterRole={apiVersion:s kind:s metadata:ObjectMeta rules:[]PolicyRule aggregationRule:*}\n"
	"PolicyRule={verbs:[]s apiGroups:[]s resources:[]s resourceNames:[]s nonResourceURLs:[]s}\n"
	"RoleBinding={apiVersion:s kind:s metadata:ObjectMeta subjects:[]Subject roleRef:RoleRef}\n"
	"ClusterRoleBinding={apiVersion:s kind:s metadata:ObjectMeta subjects:[]Subject roleRef:RoleRef}\n"
	"Subject={kind:s apiGroup:s name:s namespace:s}\n"
	"RoleRef={apiGroup:s kind:s name:s}\n"
	"Lease={apiVersion:s kind:s metadata:ObjectMeta spec:LeaseSpec}\n"
	"LeaseSpec={holderIdentity:s leaseDurationSeconds:i acquireTime:t renewTime:t leaseTransitions:i "
	"  strategy:s preferredHolder:s}\n"
	"PodDisruptionBudget={apiVersion:s kind:s metadata:ObjectMeta spec:PodDisruptionBudgetSpec status:*}\n"
	"PodDisruptionBudgetSpec={minAvailable:o selector:LabelSelector maxUnavailable:o "
	"  unhealthyPodEvictionPolicy:s}\n"
	"SelfSubjectAccessReview={apiVersion:s kind:s metadata:ObjectMeta spec:* status:*}\n"
	"SelfSubjectReview={apiVersion:s kind:s metadata:ObjectMeta status:*}\n"
	"Scale={apiVersion:s kind:s metadata:ObjectMeta spec:ScaleSpec status:ScaleStatus}\n"
	"ScaleSpec={replicas:i}\n"
	"ScaleStatus={replicas:i selector:s}\n";

enum skind { SK_OBJ, SK_LIST, SK_MAP, SK_LEAF, SK_REF };

struct kf_schema {
	enum skind kind;
	char leaf;                  /* SK_LEAF: s i l b n o q t B * */
	char *name;                 /* SK_OBJ: the Go type; SK_REF: the type it names */
	/* SK_OBJ */
	char **fields;
	struct kf_schema **specs;
	size_t nfields;
	/* SK_LIST, SK_MAP */
	struct kf_schema *item;
	int list_type;              /* 0 atomic, 1 keyed, 2 set */
	const char **keys;          /* NULL-terminated */
};

static struct kf_schema **types;
static size_t ntypes;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static struct kf_schema *node(enum skind k)
{
	struct kf_schema *s = xcalloc(1, sizeof(*s));
	s->kind = k;
	return s;
}

static void ws(const char **p)
{
	while (**p == ' ' || **p == '\n')
		(*p)++;
}

static char *ident(const char **p)
{
	const char *s = *p;
	while (isalnum((unsigned char)**p) || **p == '_' || **p == '-')
		(*p)++;
	return xstrndup(s, (size_t)(*p - s));
}

static struct kf_schema *parse_spec(const char **p)
{
	struct kf_schema *s;

	if (**p == '%') {
		(*p)++;
		s = node(SK_MAP);
		s->item = parse_spec(p);
		return s;
	}
	if (**p == '[') {
		const char **keys = NULL;
		size_t nk = 0;
		s = node(SK_LIST);
		(*p)++;
		if (**p == '+') {
			s->list_type = 2;
			(*p)++;
		}
		while (**p != ']') {
			char *k = ident(p);
			keys = xrealloc(keys, (nk + 2) * sizeof(*keys));
			keys[nk++] = k;
			keys[nk] = NULL;
			if (**p == ',')
				(*p)++;
		}
		(*p)++;
		if (nk) {
			s->list_type = 1;
			s->keys = keys;
		}
		s->item = parse_spec(p);
		return s;
	}
	if (isupper((unsigned char)**p) && isalpha((unsigned char)(*p)[1])) {
		s = node(SK_REF);
		s->name = ident(p);
		return s;
	}
	s = node(SK_LEAF);
	s->leaf = **p;
	(*p)++;
	return s;
}

static void parse_all(void)
{
	const char *p = SCHEMA;

	for (int guard = 0; guard < 1000; guard++) {
		struct kf_schema *t;
		ws(&p);
		if (!*p)
			break;
		t = node(SK_OBJ);
		t->name = ident(&p);
		p += 2;   /* "={" */
		for (int g2 = 0; g2 < 200; g2++) {
			ws(&p);
			if (*p == '}') {
				p++;
				break;
			}
			t->fields = xrealloc(t->fields, (t->nfields + 1) * sizeof(char *));
			t->specs = xrealloc(t->specs, (t->nfields + 1) * sizeof(*t->specs));
			t->fields[t->nfields] = ident(&p);
			p++;   /* ':' */
			t->specs[t->nfields] = parse_spec(&p);
			t->nfields++;
		}
		types = xrealloc(types, (ntypes + 1) * sizeof(*types));
		types[ntypes++] = t;
	}
}

void schema_init(void)
{
	pthread_once(&once, parse_all);
}

static const struct kf_schema *type_named(const char *name)
{
	for (size_t i = 0; i < ntypes; i++)
		if (strcmp(types[i]->name, name) == 0)
			return types[i];
	return NULL;
}

static const struct kf_schema *resolve(const struct kf_schema *s)
{
	if (s && s->kind == SK_REF)
		return type_named(s->name);
	if (s && s->kind == SK_LEAF && s->leaf == '*')
		return NULL;
	return s;
}

const struct kf_schema *schema_named(const char *name)
{
	schema_init();
	return type_named(name);
}

const struct kf_schema *schema_for(const struct kr *r)
{
	schema_init();
	return r ? type_named(r->kind) : NULL;
}

const struct kf_schema *schema_field(const struct kf_schema *s, const char *name)
{
	s = resolve(s);
	if (!s)
		return NULL;
	if (s->kind == SK_MAP)
		return resolve(s->item);
	if (s->kind != SK_OBJ)
		return NULL;
	for (size_t i = 0; i < s->nfields; i++)
		if (strcmp(s->fields[i], name) == 0)
			return resolve(s->specs[i]) ? resolve(s->specs[i]) : NULL;
	return NULL;
}

/* The field's spec, unresolved leaves included; NULL when unknown. */
static const struct kf_schema *field_spec(const struct kf_schema *s, const char *name, bool *known)
{
	*known = false;
	if (!s || s->kind != SK_OBJ)
		return NULL;
	for (size_t i = 0; i < s->nfields; i++)
		if (strcmp(s->fields[i], name) == 0) {
			*known = true;
			return s->specs[i];
		}
	return NULL;
}

const struct kf_schema *schema_items(const struct kf_schema *s)
{
	s = resolve(s);
	return s && s->kind == SK_LIST ? resolve(s->item) : NULL;
}

int schema_list_type(const struct kf_schema *s, const char *const **keys)
{
	s = resolve(s);
	if (!s || s->kind != SK_LIST)
		return 0;
	if (keys)
		*keys = s->keys;
	return s->list_type;
}

bool schema_is_map(const struct kf_schema *s)
{
	s = resolve(s);
	return s && s->kind == SK_MAP;
}

const char *schema_go_name(const struct kf_schema *s)
{
	s = resolve(s);
	return s && s->kind == SK_OBJ ? s->name : NULL;
}

/* ---- unknown fields ---------------------------------------------------------------- */

void schema_unknown(const struct kf_schema *s, json_t *obj, const char *path, json_t *unknown, bool prune)
{
	const char *key;
	void *tmp;
	json_t *v;

	s = resolve(s);
	if (!s || !obj)
		return;
	if (s->kind == SK_OBJ && json_is_object(obj)) {
		json_object_foreach_safe(obj, tmp, key, v) {
			bool known;
			const struct kf_schema *fs = field_spec(s, key, &known);
			char *sub = path[0] ? xasprintf("%s.%s", path, key) : xstrdup(key);

			if (!known) {
				if (json_array_size(unknown) < 100)
					json_array_append_new(unknown, json_string(sub));
				if (prune)
					json_object_del(obj, key);
			} else {
				schema_unknown(fs, v, sub, unknown, prune);
			}
			free(sub);
		}
	} else if (s->kind == SK_LIST && json_is_array(obj)) {
		size_t i;
		json_array_foreach(obj, i, v) {
			char *sub = xasprintf("%s[%zu]", path, i);
			schema_unknown(s->item, v, sub, unknown, prune);
			free(sub);
		}
	} else if (s->kind == SK_MAP && json_is_object(obj)) {
		json_object_foreach(obj, key, v) {
			char *sub = xasprintf("%s.%s", path, key);
			schema_unknown(s->item, v, sub, unknown, prune);
			free(sub);
		}
	}
}

/* ---- types -------------------------------------------------------------------------------- */

static const char *json_kind(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER:
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "bool";
	default: return "null";
	}
}

static char *go_type(const struct kf_schema *s)
{
	const struct kf_schema *r = resolve(s);

	if (!s)
		return xstrdup("interface {}");
	if (s->kind == SK_LEAF) {
		switch (s->leaf) {
		case 's': case 't': return xstrdup(s->leaf == 's' ? "string" : "v1.Time");
		case 'i': return xstrdup("int32");
		case 'l': return xstrdup("int64");
		case 'b': return xstrdup("bool");
		case 'n': return xstrdup("float64");
		case 'B': return xstrdup("[]uint8");
		default: return xstrdup("interface {}");
		}
	}
	if (r && r->kind == SK_OBJ)
		return xasprintf("v1.%s", r->name);
	if (r && r->kind == SK_LIST) {
		char *in = go_type(r->item), *out = xasprintf("[]%s", in);
		free(in);
		return out;
	}
	if (r && r->kind == SK_MAP) {
		char *in = go_type(r->item), *out = xasprintf("map[string]%s", in);
		free(in);
		return out;
	}
	return xstrdup("interface {}");
}

/* k8s.io/apimachinery resource.Quantity's parser: NULL or its error. */
static const char *quantity_error(const char *s)
{
	static const char *const suffixes[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G",
						"T", "P", "E", NULL };
	const char *p = s, *ss;
	bool digits = false;
	size_t sl;

	while (*p == ' ')
		p++;
	if (*p == '+' || *p == '-')
		p++;
	while (isdigit((unsigned char)*p)) {
		p++;
		digits = true;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			p++;
			digits = true;
		}
	}
	if (!digits)
		return "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
	ss = p;
	while (*p && strchr("eEinumkKMGTP", *p))
		p++;
	sl = (size_t)(p - ss);
	if (*p == '+' || *p == '-' || isdigit((unsigned char)*p)) {
		/* an exponent: the suffix must be e or E */
		if (*p == '+' || *p == '-')
			p++;
		while (isdigit((unsigned char)*p))
			p++;
		if (*p)
			return "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
		if (sl != 1 || (ss[0] != 'e' && ss[0] != 'E'))
			return "unable to parse quantity's suffix";
		return NULL;
	}
	if (*p)
		return "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
	for (size_t i = 0; suffixes[i]; i++)
		if (strlen(suffixes[i]) == sl && strncmp(suffixes[i], ss, sl) == 0)
			return NULL;
	return "unable to parse quantity's suffix";
}

static bool base64_ok(const char *s)
{
	size_t n = strlen(s);

	if (n % 4)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '/' && !(s[i] == '=' && i >= n - 2))
			return false;
	return true;
}

/* path: JSON names from the root without list indices (Go's Field); owner: the innermost Go struct */
static char *type_walk(const struct kf_schema *spec, json_t *v, const char *path, const char *owner)
{
	const struct kf_schema *s;

	if (!spec || json_is_null(v))
		return NULL;
	if (spec->kind == SK_LEAF) {
		bool ok = true;
		const char *extra = NULL;
		switch (spec->leaf) {
		case 's': case 't': ok = json_is_string(v); break;
		case 'i': case 'l':
			ok = json_is_integer(v);
			if (!ok && json_is_real(v)) {
				char *t = go_type(spec);
				char *m = xasprintf("json: cannot unmarshal number %g into Go struct field %s.%s of type %s",
						    json_real_value(v), owner, path, t);
				free(t);
				return m;
			}
			if (ok && spec->leaf == 'i' && (json_integer_value(v) > 2147483647LL || json_integer_value(v) < -2147483648LL)) {
				char *m = xasprintf("json: cannot unmarshal number %lld into Go struct field %s.%s of type int32",
						    (long long)json_integer_value(v), owner, path);
				return m;
			}
			break;
		case 'b': ok = json_is_boolean(v); break;
		case 'n': ok = json_is_number(v); break;
		case 'o': ok = json_is_string(v) || json_is_integer(v); break;
		case 'q':
			if (json_is_string(v))
				extra = quantity_error(json_string_value(v));
			else
				ok = json_is_number(v);
			if (extra)
				return xstrdup(extra);
			break;
		case 'B':
			ok = json_is_string(v);
			if (ok && !base64_ok(json_string_value(v)))
				return xstrdup("illegal base64 data at input byte 0");
			break;
		default: break;
		}
		if (!ok) {
			char *t = spec->leaf == 'o' ? xstrdup("intstr.IntOrString") :
				  spec->leaf == 'q' ? xstrdup("resource.Quantity") : go_type(spec);
			char *m = xasprintf("json: cannot unmarshal %s into Go struct field %s.%s of type %s", json_kind(v),
					    owner, path, t);
			free(t);
			return m;
		}
		return NULL;
	}
	s = resolve(spec);
	if (!s)
		return NULL;
	if (s->kind == SK_OBJ) {
		const char *key;
		json_t *x;
		if (!json_is_object(v)) {
			char *t = go_type(spec);
			char *m = xasprintf("json: cannot unmarshal %s into Go struct field %s.%s of type %s", json_kind(v),
					    owner, path, t);
			free(t);
			return m;
		}
		json_object_foreach(v, key, x) {
			bool known;
			const struct kf_schema *fs = field_spec(s, key, &known);
			char *sub, *err;
			if (!known)
				continue;
			sub = path[0] ? xasprintf("%s.%s", path, key) : xstrdup(key);
			err = type_walk(fs, x, sub, s->name);
			free(sub);
			if (err)
				return err;
		}
		return NULL;
	}
	if (s->kind == SK_LIST) {
		size_t i;
		json_t *x;
		if (!json_is_array(v)) {
			char *t = go_type(spec);
			char *m = xasprintf("json: cannot unmarshal %s into Go struct field %s.%s of type %s", json_kind(v),
					    owner, path, t);
			free(t);
			return m;
		}
		json_array_foreach(v, i, x) {
			char *err = type_walk(s->item, x, path, owner);
			if (err)
				return err;
		}
		return NULL;
	}
	if (s->kind == SK_MAP) {
		const char *key;
		json_t *x;
		if (!json_is_object(v)) {
			char *t = go_type(spec);
			char *m = xasprintf("json: cannot unmarshal %s into Go struct field %s.%s of type %s", json_kind(v),
					    owner, path, t);
			free(t);
			return m;
		}
		json_object_foreach(v, key, x) {
			char *err = type_walk(s->item, x, path, owner);
			if (err)
				return err;
		}
	}
	return NULL;
}

char *schema_type_error(const struct kf_schema *s, json_t *obj)
{
	const char *key;
	json_t *x;

	s = resolve(s);
	if (!s || s->kind != SK_OBJ)
		return NULL;
	json_object_foreach(obj, key, x) {
		bool known;
		const struct kf_schema *fs = field_spec(s, key, &known);
		char *err;
		if (!known)
			continue;
		err = type_walk(fs, x, key, s->name);
		if (err)
			return err;
	}
	return NULL;
}

/* ---- names ------------------------------------------------------------------------------------ */

bool is_dns_label(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-'))
			return false;
	return true;
}

bool is_dns_subdomain(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	char *c, *save = NULL, *part;
	bool ok = true;

	if (n == 0 || n > 253 || s[0] == '.' || s[n - 1] == '.' || strstr(s, ".."))
		return false;
	c = xstrdup(s);
	for (part = strtok_r(c, ".", &save); part && ok; part = strtok_r(NULL, ".", &save))
		ok = is_dns_label(part);
	free(c);
	return ok;
}

static bool is_dns1035(const char *s)
{
	return is_dns_label(s) && islower((unsigned char)s[0]);
}

static const char MSG_SUBDOMAIN[] =
	"a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
	"start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
	"'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
static const char MSG_LABEL[] =
	"a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
	"end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
	"'[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
static const char MSG_1035[] =
	"a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
	"character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
	"validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
static const char MSG_LABEL_VALUE[] =
	"a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
	"start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for "
	"validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
static const char MSG_NAME_PART[] =
	"name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
	"alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
	"'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
static const char MSG_CONFIG_KEY[] =
	"a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
	"'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

static bool name_part_ok(const char *s, size_t n)
{
	if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
			return false;
	return true;
}

/* A qualified name (label and annotation keys): [prefix/]name. */
static void check_qualified(struct kf_errs *e, const char *field, const char *key)
{
	const char *slash = strchr(key, '/');
	const char *name = slash ? slash + 1 : key;
	char *q = go_quote(key);

	if (slash) {
		char *prefix = xstrndup(key, (size_t)(slash - key));
		if (!prefix[0])
			ferr_add(e, "FieldValueInvalid", field, "Invalid value: %s: prefix part must be non-empty", q);
		else if (!is_dns_subdomain(prefix))
			ferr_add(e, "FieldValueInvalid", field, "Invalid value: %s: prefix part %s", q, MSG_SUBDOMAIN);
		free(prefix);
	}
	if (!name[0])
		ferr_add(e, "FieldValueInvalid", field, "Invalid value: %s: name part must be non-empty", q);
	else if (strlen(name) > 63)
		ferr_add(e, "FieldValueInvalid", field, "Invalid value: %s: name part must be no more than 63 characters", q);
	else if (!name_part_ok(name, strlen(name)))
		ferr_add(e, "FieldValueInvalid", field, "Invalid value: %s: %s", q, MSG_NAME_PART);
	free(q);
}

static bool label_value_ok(const char *v)
{
	size_t n = strlen(v);
	return n == 0 || name_part_ok(v, n);
}

static void check_labels(struct kf_errs *e, const char *field, json_t *labels)
{
	const char *key;
	json_t *v;

	json_object_foreach(labels, key, v) {
		const char *s = json_string_value(v);
		check_qualified(e, field, key);
		if (s && strlen(s) > 63) {
			char *q = go_quote(s);
			ferr_add(e, "FieldValueInvalid", field, "Invalid value: %s: must be no more than 63 characters", q);
			free(q);
		} else if (s && !label_value_ok(s)) {
			char *q = go_quote(s);
			ferr_add(e, "FieldValueInvalid", field, "Invalid value: %s: %s", q, MSG_LABEL_VALUE);
			free(q);
		}
	}
}

static void check_meta(struct kf_errs *e, const struct kr *r, json_t *obj, bool create)
{
	json_t *m = json_object_get(obj, "metadata"), *ann, *v;
	const char *name = json_string_value(json_object_get(m, "name"));
	const char *key;
	size_t total = 0;

	if (!name || !name[0]) {
		if (create)
			ferr_add(e, "FieldValueRequired", "metadata.name", "Required value: name or generateName is required");
	} else {
		char *q = go_quote(name);
		if (strcmp(r->resource, "namespaces") == 0) {
			if (!is_dns_label(name))
				ferr_add(e, "FieldValueInvalid", "metadata.name", "Invalid value: %s: %s", q, MSG_LABEL);
		} else if (strcmp(r->resource, "services") == 0) {
			if (!is_dns1035(name))
				ferr_add(e, "FieldValueInvalid", "metadata.name", "Invalid value: %s: %s", q, MSG_1035);
		} else if (!is_dns_subdomain(name)) {
			ferr_add(e, "FieldValueInvalid", "metadata.name", "Invalid value: %s: %s", q, MSG_SUBDOMAIN);
		}
		if (strcmp(r->resource, "cronjobs") == 0 && strlen(name) > 52)
			ferr_add(e, "FieldValueInvalid", "metadata.name", "Invalid value: %s: must be no more than 52 characters", q);
		free(q);
	}
	check_labels(e, "metadata.labels", json_object_get(m, "labels"));
	ann = json_object_get(m, "annotations");
	json_object_foreach(ann, key, v) {
		check_qualified(e, "metadata.annotations", key);
		total += strlen(key) + strlen(json_string_value(v) ? json_string_value(v) : "");
	}
	if (total > 262144)
		ferr_add(e, "FieldValueTooLong", "metadata.annotations", "Too long: may not be more than 262144 bytes");
}

/* ---- values in messages ------------------------------------------------------------------------- */

/* Go's %#v of a map[string]string: map[string]string{"a":"1", "b":"2"} (keys sorted) */
static char *go_map(json_t *m)
{
	const char *key, **keys;
	json_t *v;
	size_t n = 0;
	struct strbuf sb;

	keys = xmalloc((json_object_size(m) + 1) * sizeof(*keys));
	json_object_foreach(m, key, v)
		keys[n++] = key;
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
			const char *t = keys[j];
			keys[j] = keys[j - 1];
			keys[j - 1] = t;
		}
	sb_init(&sb);
	sb_adds(&sb, n ? "map[string]string{" : "map[string]string(nil)");
	for (size_t i = 0; i < n; i++) {
		char *qk = go_quote(keys[i]), *qv = go_quote(json_string_value(json_object_get(m, keys[i])));
		sb_addf(&sb, "%s%s:%s", i ? ", " : "", qk, qv);
		free(qk);
		free(qv);
	}
	if (n)
		sb_addc(&sb, '}');
	free(keys);
	return sb_detach(&sb);
}

static char *go_selector(json_t *sel)
{
	char *ml = go_map(json_object_get(sel, "matchLabels"));
	char *out = xasprintf("v1.LabelSelector{MatchLabels:%s, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}", ml);
	free(ml);
	return out;
}

/* ---- pod templates --------------------------------------------------------------------------------- */

static void check_containers(struct kf_errs *e, const char *base, json_t *list, bool required)
{
	json_t *c;
	size_t i;
	char f[256];

	if (json_array_size(list) == 0) {
		if (required) {
			snprintf(f, sizeof(f), "%s", base);
			ferr_add(e, "FieldValueRequired", f, "Required value");
		}
		return;
	}
	json_array_foreach(list, i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		const char *image = json_string_value(json_object_get(c, "image"));
		const char *pp = json_string_value(json_object_get(c, "imagePullPolicy"));
		json_t *ports = json_object_get(c, "ports"), *p, *env = json_object_get(c, "env"), *ev;
		size_t j;

		if (!name || !name[0]) {
			snprintf(f, sizeof(f), "%s[%zu].name", base, i);
			ferr_add(e, "FieldValueRequired", f, "Required value");
		} else {
			char *q = go_quote(name);
			if (!is_dns_label(name)) {
				snprintf(f, sizeof(f), "%s[%zu].name", base, i);
				ferr_add(e, "FieldValueInvalid", f, "Invalid value: %s: %s", q, MSG_LABEL);
			}
			for (j = 0; j < i; j++) {
				const char *other = json_string_value(json_object_get(json_array_get(list, j), "name"));
				if (other && strcmp(other, name) == 0) {
					snprintf(f, sizeof(f), "%s[%zu].name", base, i);
					ferr_add(e, "FieldValueDuplicate", f, "Duplicate value: %s", q);
					break;
				}
			}
			free(q);
		}
		if (!image || !image[0]) {
			snprintf(f, sizeof(f), "%s[%zu].image", base, i);
			ferr_add(e, "FieldValueRequired", f, "Required value");
		} else if (strchr(image, ' ') || image[0] == ' ') {
			snprintf(f, sizeof(f), "%s[%zu].image", base, i);
			ferr_add(e, "FieldValueInvalid", f, "Invalid value: \"%s\": must not have leading or trailing whitespace", image);
		}
		if (pp && strcmp(pp, "Always") && strcmp(pp, "IfNotPresent") && strcmp(pp, "Never")) {
			char *q = go_quote(pp);
			snprintf(f, sizeof(f), "%s[%zu].imagePullPolicy", base, i);
			ferr_add(e, "FieldValueNotSupported", f,
				 "Unsupported value: %s: supported values: \"Always\", \"IfNotPresent\", \"Never\"", q);
			free(q);
		}
		json_array_foreach(ports, j, p) {
			json_int_t cp = json_integer_value(json_object_get(p, "containerPort"));
			const char *proto = json_string_value(json_object_get(p, "protocol"));
			if (cp < 1 || cp > 65535) {
				snprintf(f, sizeof(f), "%s[%zu].ports[%zu].containerPort", base, i, j);
				if (!json_object_get(p, "containerPort"))
					ferr_add(e, "FieldValueRequired", f, "Required value");
				else
					ferr_add(e, "FieldValueInvalid", f, "Invalid value: %lld: must be between 1 and 65535, inclusive",
						 (long long)cp);
			}
			if (proto && strcmp(proto, "TCP") && strcmp(proto, "UDP") && strcmp(proto, "SCTP")) {
				char *q = go_quote(proto);
				snprintf(f, sizeof(f), "%s[%zu].ports[%zu].protocol", base, i, j);
				ferr_add(e, "FieldValueNotSupported", f, "Unsupported value: %s: supported values: \"SCTP\", \"TCP\", \"UDP\"", q);
				free(q);
			}
		}
		json_array_foreach(env, j, ev) {
			const char *en = json_string_value(json_object_get(ev, "name"));
			if (!en || !en[0]) {
				snprintf(f, sizeof(f), "%s[%zu].env[%zu].name", base, i, j);
				ferr_add(e, "FieldValueRequired", f, "Required value");
			}
		}
	}
}

/* A pod spec at base ("spec.template.spec"); restart: the allowed policies, NULL all. */
static void check_pod_spec(struct kf_errs *e, const char *base, json_t *spec, const char *const *restart)
{
	char f[256];
	const char *rp = json_string_value(json_object_get(spec, "restartPolicy"));
	const char *dns = json_string_value(json_object_get(spec, "dnsPolicy"));

	snprintf(f, sizeof(f), "%s.containers", base);
	check_containers(e, f, json_object_get(spec, "containers"), true);
	snprintf(f, sizeof(f), "%s.initContainers", base);
	check_containers(e, f, json_object_get(spec, "initContainers"), false);
	if (rp && restart) {
		bool ok = false;
		struct strbuf sb;
		for (size_t i = 0; restart[i]; i++)
			if (strcmp(rp, restart[i]) == 0)
				ok = true;
		if (!ok) {
			char *q = go_quote(rp);
			sb_init(&sb);
			for (size_t i = 0; restart[i]; i++)
				sb_addf(&sb, "%s\"%s\"", i ? ", " : "", restart[i]);
			snprintf(f, sizeof(f), "%s.restartPolicy", base);
			ferr_add(e, "FieldValueNotSupported", f, "Unsupported value: %s: supported values: %s", q, sb.buf);
			sb_release(&sb);
			free(q);
		}
	}
	if (dns && strcmp(dns, "ClusterFirstWithHostNet") && strcmp(dns, "ClusterFirst") && strcmp(dns, "Default") &&
	    strcmp(dns, "None")) {
		char *q = go_quote(dns);
		snprintf(f, sizeof(f), "%s.dnsPolicy", base);
		ferr_add(e, "FieldValueNotSupported", f,
			 "Unsupported value: %s: supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"", q);
		free(q);
	}
}

static void check_template_labels(struct kf_errs *e, const char *base, json_t *sel, json_t *tmpl)
{
	json_t *labels = json_object_get(json_object_get(tmpl, "metadata"), "labels");
	char f[256];

	snprintf(f, sizeof(f), "%s.metadata.labels", base);
	check_labels(e, f, labels);
	if (sel && !labelselector_match(sel, labels, false)) {
		char *m = go_map(labels);
		ferr_add(e, "FieldValueInvalid", f, "Invalid value: %s: `selector` does not match template `labels`", m);
		free(m);
	}
}

static void check_selector(struct kf_errs *e, const char *field, json_t *sel, const char *kind)
{
	if (!sel) {
		ferr_add(e, "FieldValueRequired", field, "Required value");
	} else if (json_object_size(json_object_get(sel, "matchLabels")) == 0 &&
		   json_array_size(json_object_get(sel, "matchExpressions")) == 0) {
		char *g = go_selector(sel);
		ferr_add(e, "FieldValueInvalid", field, "Invalid value: %s: empty selector is invalid for %s", g, kind);
		free(g);
	} else {
		check_labels(e, field, json_object_get(sel, "matchLabels"));
	}
}

static void non_negative(struct kf_errs *e, const char *field, json_t *v)
{
	if (json_is_integer(v) && json_integer_value(v) < 0)
		ferr_add(e, "FieldValueInvalid", field, "Invalid value: %lld: must be greater than or equal to 0",
			 (long long)json_integer_value(v));
}

static void immutable(struct kf_errs *e, const char *field, json_t *a, json_t *b, const char *shown)
{
	if (!json_equal(a, b) && !(a == NULL && b == NULL))
		ferr_add(e, "FieldValueInvalid", field, "Invalid value: %s: field is immutable", shown);
}

/* ---- per kind ------------------------------------------------------------------------------------------ */

static const char *const RESTART_ALWAYS[] = { "Always", NULL };
static const char *const RESTART_JOB[] = { "OnFailure", "Never", NULL };

static void check_deployment(struct kf_errs *e, json_t *obj, json_t *old)
{
	json_t *spec = json_object_get(obj, "spec"), *sel = json_object_get(spec, "selector");
	json_t *tmpl = json_object_get(spec, "template"), *st = json_object_get(spec, "strategy");
	const char *type = json_string_value(json_object_get(st, "type"));
	json_t *ru = json_object_get(st, "rollingUpdate");

	non_negative(e, "spec.replicas", json_object_get(spec, "replicas"));
	check_selector(e, "spec.selector", sel, "deployment");
	check_template_labels(e, "spec.template", sel, tmpl);
	check_pod_spec(e, "spec.template.spec", json_object_get(tmpl, "spec"), RESTART_ALWAYS);
	if (type && strcmp(type, "Recreate") && strcmp(type, "RollingUpdate")) {
		char *q = go_quote(type);
		ferr_add(e, "FieldValueNotSupported", "spec.strategy.type",
			 "Unsupported value: %s: supported values: \"Recreate\", \"RollingUpdate\"", q);
		free(q);
	}
	if (type && strcmp(type, "Recreate") == 0 && ru)
		ferr_add(e, "FieldValueForbidden", "spec.strategy.rollingUpdate",
			 "Forbidden: may not be specified when strategy `type` is 'Recreate'");
	if (ru) {
		json_t *mu = json_object_get(ru, "maxUnavailable"), *ms = json_object_get(ru, "maxSurge");
		bool mu0 = (json_is_integer(mu) && json_integer_value(mu) == 0) ||
			   (json_is_string(mu) && strcmp(json_string_value(mu), "0%") == 0);
		bool ms0 = (json_is_integer(ms) && json_integer_value(ms) == 0) ||
			   (json_is_string(ms) && strcmp(json_string_value(ms), "0%") == 0);
		if (mu0 && ms0)
			ferr_add(e, "FieldValueInvalid", "spec.strategy.rollingUpdate.maxUnavailable",
				 "Invalid value: %s: may not be 0 when `maxSurge` is 0", json_is_string(mu) ? "\"0%\"" : "0");
	}
	non_negative(e, "spec.minReadySeconds", json_object_get(spec, "minReadySeconds"));
	non_negative(e, "spec.revisionHistoryLimit", json_object_get(spec, "revisionHistoryLimit"));
	{
		json_t *pd = json_object_get(spec, "progressDeadlineSeconds"), *mr = json_object_get(spec, "minReadySeconds");
		if (json_is_integer(pd) && json_integer_value(pd) <= json_integer_value(mr))
			ferr_add(e, "FieldValueInvalid", "spec.progressDeadlineSeconds",
				 "Invalid value: %lld: must be greater than minReadySeconds", (long long)json_integer_value(pd));
	}
	if (old) {
		json_t *osel = json_object_get(json_object_get(old, "spec"), "selector");
		if (!json_equal(osel, sel)) {
			char *g = go_selector(sel);
			ferr_add(e, "FieldValueInvalid", "spec.selector", "Invalid value: %s: field is immutable", g);
			free(g);
		}
	}
}

static void check_job_spec(struct kf_errs *e, const char *base, json_t *spec, json_t *old_spec, bool manual)
{
	char f[256], f2[256];
	json_t *sel = json_object_get(spec, "selector");

	snprintf(f, sizeof(f), "%s.template", base);
	if (sel || manual)
		check_template_labels(e, f, sel, json_object_get(spec, "template"));
	snprintf(f2, sizeof(f2), "%s.template.spec", base);
	check_pod_spec(e, f2, json_object_get(json_object_get(spec, "template"), "spec"), RESTART_JOB);
	snprintf(f, sizeof(f), "%s.parallelism", base);
	non_negative(e, f, json_object_get(spec, "parallelism"));
	snprintf(f, sizeof(f), "%s.completions", base);
	non_negative(e, f, json_object_get(spec, "completions"));
	snprintf(f, sizeof(f), "%s.backoffLimit", base);
	non_negative(e, f, json_object_get(spec, "backoffLimit"));
	if (old_spec) {
		snprintf(f, sizeof(f), "%s.selector", base);
		if (!json_equal(json_object_get(old_spec, "selector"), sel))
			immutable(e, f, json_object_get(old_spec, "selector"), sel, "v1.LabelSelector{...}");
		snprintf(f, sizeof(f), "%s.template", base);
		if (!json_equal(json_object_get(old_spec, "template"), json_object_get(spec, "template")))
			ferr_add(e, "FieldValueInvalid", f, "Invalid value: core.PodTemplateSpec{...}: field is immutable");
	}
}

static void check_cronjob(struct kf_errs *e, json_t *obj)
{
	json_t *spec = json_object_get(obj, "spec"), *jt = json_object_get(spec, "jobTemplate");
	const char *sched = json_string_value(json_object_get(spec, "schedule"));
	const char *cp = json_string_value(json_object_get(spec, "concurrencyPolicy"));
	struct cron_expr ce;
	char err[256];

	if (!sched || !sched[0]) {
		ferr_add(e, "FieldValueRequired", "spec.schedule", "Required value");
	} else if (strncmp(sched, "@every ", 7) != 0 && strstr(sched, "TZ=") == NULL &&
		   cron_parse(sched, &ce, err, sizeof(err)) != 0) {
		char *q = go_quote(sched);
		ferr_add(e, "FieldValueInvalid", "spec.schedule", "Invalid value: %s: %s", q, err);
		free(q);
	} else if (strstr(sched, "TZ=")) {
		char *q = go_quote(sched);
		ferr_add(e, "FieldValueInvalid", "spec.schedule",
			 "Invalid value: %s: cannot use TZ or CRON_TZ in schedule, use timeZone field instead", q);
		free(q);
	}
	if (cp && strcmp(cp, "Allow") && strcmp(cp, "Forbid") && strcmp(cp, "Replace")) {
		char *q = go_quote(cp);
		ferr_add(e, "FieldValueNotSupported", "spec.concurrencyPolicy",
			 "Unsupported value: %s: supported values: \"Allow\", \"Forbid\", \"Replace\"", q);
		free(q);
	}
	non_negative(e, "spec.startingDeadlineSeconds", json_object_get(spec, "startingDeadlineSeconds"));
	non_negative(e, "spec.successfulJobsHistoryLimit", json_object_get(spec, "successfulJobsHistoryLimit"));
	non_negative(e, "spec.failedJobsHistoryLimit", json_object_get(spec, "failedJobsHistoryLimit"));
	check_labels(e, "spec.jobTemplate.metadata.labels", json_object_get(json_object_get(jt, "metadata"), "labels"));
	check_job_spec(e, "spec.jobTemplate.spec", json_object_get(jt, "spec"), NULL, false);
}

static void check_service(struct kf_errs *e, json_t *obj, json_t *old)
{
	json_t *spec = json_object_get(obj, "spec"), *ports = json_object_get(spec, "ports"), *p;
	const char *type = json_string_value(json_object_get(spec, "type"));
	const char *cip = json_string_value(json_object_get(spec, "clusterIP"));
	size_t i, n = json_array_size(ports);
	char f[128];

	if (type && strcmp(type, "ClusterIP") && strcmp(type, "ExternalName") && strcmp(type, "LoadBalancer") &&
	    strcmp(type, "NodePort")) {
		char *q = go_quote(type);
		ferr_add(e, "FieldValueNotSupported", "spec.type",
			 "Unsupported value: %s: supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"", q);
		free(q);
	}
	if (n == 0 && !(type && strcmp(type, "ExternalName") == 0) && !(cip && strcmp(cip, "None") == 0))
		ferr_add(e, "FieldValueRequired", "spec.ports", "Required value");
	json_array_foreach(ports, i, p) {
		const char *name = json_string_value(json_object_get(p, "name"));
		json_int_t port = json_integer_value(json_object_get(p, "port"));
		json_t *tp = json_object_get(p, "targetPort");
		const char *proto = json_string_value(json_object_get(p, "protocol"));

		if (n > 1 && (!name || !name[0])) {
			snprintf(f, sizeof(f), "spec.ports[%zu].name", i);
			ferr_add(e, "FieldValueRequired", f, "Required value");
		} else if (name && name[0]) {
			char *q = go_quote(name);
			if (!is_dns_label(name)) {
				snprintf(f, sizeof(f), "spec.ports[%zu].name", i);
				ferr_add(e, "FieldValueInvalid", f, "Invalid value: %s: %s", q, MSG_LABEL);
			}
			for (size_t j = 0; j < i; j++) {
				const char *o = json_string_value(json_object_get(json_array_get(ports, j), "name"));
				if (o && strcmp(o, name) == 0) {
					snprintf(f, sizeof(f), "spec.ports[%zu].name", i);
					ferr_add(e, "FieldValueDuplicate", f, "Duplicate value: %s", q);
				}
			}
			free(q);
		}
		if (port < 1 || port > 65535) {
			snprintf(f, sizeof(f), "spec.ports[%zu].port", i);
			ferr_add(e, "FieldValueInvalid", f, "Invalid value: %lld: must be between 1 and 65535, inclusive",
				 (long long)port);
		}
		if (json_is_integer(tp) && (json_integer_value(tp) < 1 || json_integer_value(tp) > 65535)) {
			snprintf(f, sizeof(f), "spec.ports[%zu].targetPort", i);
			ferr_add(e, "FieldValueInvalid", f, "Invalid value: %lld: must be between 1 and 65535, inclusive",
				 (long long)json_integer_value(tp));
		}
		if (proto && strcmp(proto, "TCP") && strcmp(proto, "UDP") && strcmp(proto, "SCTP")) {
			char *q = go_quote(proto);
			snprintf(f, sizeof(f), "spec.ports[%zu].protocol", i);
			ferr_add(e, "FieldValueNotSupported", f, "Unsupported value: %s: supported values: \"SCTP\", \"TCP\", \"UDP\"", q);
			free(q);
		}
	}
	check_labels(e, "spec.selector", json_object_get(spec, "selector"));
	if (old) {
		const char *ocip = json_string_value(json_object_get(json_object_get(old, "spec"), "clusterIP"));
		if (ocip && cip && strcmp(ocip, cip) != 0 && strcmp(ocip, "None") != 0) {
			ferr_add(e, "FieldValueInvalid", "spec.clusterIPs[0]",
				 "Invalid value: []string{\"%s\"}: may not change once set", cip);
		}
	}
}

static void check_data_keys(struct kf_errs *e, const char *field, json_t *data)
{
	const char *key;
	json_t *v;

	json_object_foreach(data, key, v) {
		bool ok = key[0] != '\0' && strcmp(key, ".") && strcmp(key, "..") && strncmp(key, "..", 2) != 0;
		for (const char *p = key; *p && ok; p++)
			if (!isalnum((unsigned char)*p) && !strchr("-._", *p))
				ok = false;
		if (!ok) {
			char *f = xasprintf("%s[%s]", field, key), *q = go_quote(key);
			ferr_add(e, "FieldValueInvalid", f, "Invalid value: %s: %s", q, MSG_CONFIG_KEY);
			free(f);
			free(q);
		}
	}
}

static void check_config(struct kf_errs *e, const struct kr *r, json_t *obj, json_t *old)
{
	check_data_keys(e, "data", json_object_get(obj, "data"));
	if (strcmp(r->resource, "configmaps") == 0)
		check_data_keys(e, "binaryData", json_object_get(obj, "binaryData"));
	if (old && json_is_true(json_object_get(old, "immutable"))) {
		if (!json_equal(json_object_get(old, "data") ? json_object_get(old, "data") : json_object(),
				json_object_get(obj, "data") ? json_object_get(obj, "data") : json_object()) &&
		    !(json_object_get(old, "data") == NULL && json_object_get(obj, "data") == NULL))
			ferr_add(e, "FieldValueForbidden", "data", "Forbidden: field is immutable when `immutable` is set");
		if (!json_is_true(json_object_get(obj, "immutable")))
			ferr_add(e, "FieldValueForbidden", "immutable", "Forbidden: field is immutable when `immutable` is set");
	}
	if (old && strcmp(r->resource, "secrets") == 0) {
		const char *t = json_string_value(json_object_get(obj, "type"));
		const char *ot = json_string_value(json_object_get(old, "type"));
		if (t && ot && strcmp(t, ot) != 0) {
			char *q = go_quote(t);
			ferr_add(e, "FieldValueInvalid", "type", "Invalid value: %s: field is immutable", q);
			free(q);
		}
	}
}

json_t *schema_validate(struct fake_kube *k, const struct kr *r, json_t *obj, json_t *old)
{
	struct kf_errs e;
	const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
	json_t *spec = json_object_get(obj, "spec");

	(void)k;
	ferr_init(&e);
	check_meta(&e, r, obj, old == NULL);
	if (strcmp(r->resource, "deployments") == 0) {
		check_deployment(&e, obj, old);
	} else if (strcmp(r->resource, "replicasets") == 0) {
		non_negative(&e, "spec.replicas", json_object_get(spec, "replicas"));
		check_selector(&e, "spec.selector", json_object_get(spec, "selector"), "replicaset");
		check_template_labels(&e, "spec.template", json_object_get(spec, "selector"), json_object_get(spec, "template"));
		check_pod_spec(&e, "spec.template.spec", json_object_get(json_object_get(spec, "template"), "spec"),
			       RESTART_ALWAYS);
	} else if (strcmp(r->resource, "jobs") == 0) {
		check_job_spec(&e, "spec", spec, old ? json_object_get(old, "spec") : NULL,
			       json_is_true(json_object_get(spec, "manualSelector")));
	} else if (strcmp(r->resource, "cronjobs") == 0) {
		check_cronjob(&e, obj);
	} else if (strcmp(r->resource, "services") == 0) {
		check_service(&e, obj, old);
	} else if (strcmp(r->resource, "configmaps") == 0 || strcmp(r->resource, "secrets") == 0) {
		check_config(&e, r, obj, old);
	} else if (strcmp(r->resource, "pods") == 0) {
		const char *mirror_key = "kubernetes.io/config.mirror";
		json_t *mirror = json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"), mirror_key);
		json_t *old_mirror = old ? json_object_get(json_object_get(json_object_get(old, "metadata"), "annotations"),
							   mirror_key) : NULL;
		check_pod_spec(&e, "spec", spec, NULL);
		/* ValidatePodSpecificAnnotations and their updates: the kubelet's mirror pods */
		if (old && old_mirror && !(mirror && json_equal(mirror, old_mirror)))
			ferr_add(&e, "FieldValueForbidden", "metadata.annotations[kubernetes.io/config.mirror]",
				 "Forbidden: may not remove or update mirror pod annotation");
		if (old && mirror && !old_mirror)
			ferr_add(&e, "FieldValueForbidden", "metadata.annotations[kubernetes.io/config.mirror]",
				 "Forbidden: may not add mirror pod annotation");
		if (mirror && !(json_string_value(json_object_get(spec, "nodeName")) &&
				json_string_value(json_object_get(spec, "nodeName"))[0])) {
			char *q = go_quote(json_string_value(mirror) ? json_string_value(mirror) : "");
			ferr_add(&e, "FieldValueInvalid", "metadata.annotations[kubernetes.io/config.mirror]",
				 "Invalid value: %s: must set spec.nodeName if mirror pod annotation is set", q);
			free(q);
		}
		if (old) {
			/* only images and a few fields may change on a pod */
			json_t *a = json_deep_copy(json_object_get(old, "spec")), *b = json_deep_copy(spec), *c;
			size_t i;
			json_array_foreach(json_object_get(a, "containers"), i, c)
				json_object_del(c, "image");
			json_array_foreach(json_object_get(b, "containers"), i, c)
				json_object_del(c, "image");
			json_object_del(a, "activeDeadlineSeconds");
			json_object_del(b, "activeDeadlineSeconds");
			json_object_del(a, "tolerations");
			json_object_del(b, "tolerations");
			if (!json_equal(a, b))
				ferr_add(&e, "FieldValueForbidden", "spec",
					 "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
					 "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
					 "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be "
					 "set to 1 if it was previously negative)");
			json_decref(a);
			json_decref(b);
		}
	} else if (strcmp(r->resource, "leases") == 0) {
		json_t *d = json_object_get(spec, "leaseDurationSeconds");
		if (json_is_integer(d) && json_integer_value(d) <= 0)
			ferr_add(&e, "FieldValueInvalid", "spec.leaseDurationSeconds", "Invalid value: %lld: must be greater than 0",
				 (long long)json_integer_value(d));
		non_negative(&e, "spec.leaseTransitions", json_object_get(spec, "leaseTransitions"));
	} else if (strcmp(r->resource, "poddisruptionbudgets") == 0) {
		if (json_object_get(spec, "minAvailable") && json_object_get(spec, "maxUnavailable"))
			ferr_add(&e, "FieldValueInvalid", "spec",
				 "Invalid value: policy.PodDisruptionBudgetSpec{...}: minAvailable and maxUnavailable cannot be both set");
		if (old && !json_equal(json_object_get(json_object_get(old, "spec"), "selector"), json_object_get(spec, "selector")) &&
		    0)
			ferr_add(&e, "FieldValueForbidden", "spec.selector", "Forbidden: field is immutable");
	}
	if (ferr_count(&e) == 0) {
		ferr_release(&e);
		return NULL;
	}
	return kf_invalid(r->group, r->kind, name ? name : "", &e);
}

/* ---- defaults --------------------------------------------------------------------------------------------------- */

static void set_default(json_t *obj, const char *key, json_t *v)
{
	if (!json_object_get(obj, key))
		json_object_set_new(obj, key, v);
	else
		json_decref(v);
}

static json_t *child(json_t *obj, const char *key)
{
	json_t *c = json_object_get(obj, key);

	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(obj, key, c);
	}
	return c;
}

static void default_containers(json_t *list)
{
	json_t *c, *p;
	size_t i, j;

	json_array_foreach(list, i, c) {
		const char *image = json_string_value(json_object_get(c, "image"));
		const char *slash = image ? strrchr(image, '/') : NULL;
		const char *last = slash ? slash + 1 : image;
		bool latest = image && !strchr(image, '@') && (!strchr(last, ':') || strcmp(strchr(last, ':'), ":latest") == 0);

		set_default(c, "terminationMessagePath", json_string("/dev/termination-log"));
		set_default(c, "terminationMessagePolicy", json_string("File"));
		set_default(c, "imagePullPolicy", json_string(latest ? "Always" : "IfNotPresent"));
		set_default(c, "resources", json_object());
		json_array_foreach(json_object_get(c, "ports"), j, p)
			set_default(p, "protocol", json_string("TCP"));
		json_array_foreach(json_object_get(c, "env"), j, p) {
			json_t *fr = json_object_get(json_object_get(p, "valueFrom"), "fieldRef");
			if (fr)
				set_default(fr, "apiVersion", json_string("v1"));
		}
	}
}

static void default_pod_spec(json_t *spec)
{
	if (!json_is_object(spec))
		return;
	set_default(spec, "restartPolicy", json_string("Always"));
	set_default(spec, "terminationGracePeriodSeconds", json_integer(30));
	set_default(spec, "dnsPolicy", json_string("ClusterFirst"));
	set_default(spec, "securityContext", json_object());
	set_default(spec, "schedulerName", json_string("default-scheduler"));
	default_containers(json_object_get(spec, "containers"));
	default_containers(json_object_get(spec, "initContainers"));
}

static void default_template(json_t *tmpl)
{
	if (!json_is_object(tmpl))
		return;
	/* Kubernetes 1.32 writes a zero creationTimestamp in templates as null */
	json_object_set_new(child(tmpl, "metadata"), "creationTimestamp", json_null());
	default_pod_spec(child(tmpl, "spec"));
}

static void default_job_spec(json_t *spec)
{
	if (!json_object_get(spec, "parallelism") && !json_object_get(spec, "completions")) {
		json_object_set_new(spec, "parallelism", json_integer(1));
		json_object_set_new(spec, "completions", json_integer(1));
	} else {
		set_default(spec, "parallelism", json_integer(1));
	}
	set_default(spec, "backoffLimit", json_integer(6));
	set_default(spec, "completionMode", json_string("NonIndexed"));
	set_default(spec, "suspend", json_false());
	set_default(spec, "podReplacementPolicy", json_string("TerminatingOrFailed"));
	default_template(json_object_get(spec, "template"));
}

static void allocate_ip(struct fake_kube *k, json_t *spec)
{
	uint64_t n = ++k->ip_seq + 10;
	char ip[32];

	snprintf(ip, sizeof(ip), "10.96.%llu.%llu", (unsigned long long)(n / 250), (unsigned long long)(n % 250));
	json_object_set_new(spec, "clusterIP", json_string(ip));
	json_object_set_new(spec, "clusterIPs", json_pack("[s]", ip));
}

static void default_service(struct fake_kube *k, json_t *obj, json_t *old)
{
	json_t *spec = child(obj, "spec"), *p, *ospec = json_object_get(old, "spec");
	const char *type;
	size_t i;

	set_default(spec, "type", json_string("ClusterIP"));
	set_default(spec, "sessionAffinity", json_string("None"));
	type = json_string_value(json_object_get(spec, "type"));
	json_array_foreach(json_object_get(spec, "ports"), i, p) {
		set_default(p, "protocol", json_string("TCP"));
		if (!json_object_get(p, "targetPort") && json_object_get(p, "port"))
			json_object_set(p, "targetPort", json_object_get(p, "port"));
		if (type && (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0) &&
		    !json_object_get(p, "nodePort")) {
			/* an allocated nodePort survives an update that leaves it out */
			json_t *op = json_array_get(json_object_get(ospec, "ports"), i);
			if (op && json_object_get(op, "nodePort"))
				json_object_set(p, "nodePort", json_object_get(op, "nodePort"));
			else
				json_object_set_new(p, "nodePort", json_integer(30000 + (json_int_t)(++k->ip_seq % 2767)));
		}
	}
	if (type && strcmp(type, "ExternalName") == 0)
		return;
	if (!json_object_get(spec, "clusterIP")) {
		/* PUT without clusterIP keeps the allocated one */
		if (ospec && json_object_get(ospec, "clusterIP")) {
			json_object_set(spec, "clusterIP", json_object_get(ospec, "clusterIP"));
			json_object_set(spec, "clusterIPs", json_object_get(ospec, "clusterIPs"));
		} else {
			allocate_ip(k, spec);
		}
	}
	if (!json_object_get(spec, "clusterIPs"))
		json_object_set_new(spec, "clusterIPs", json_pack("[O]", json_object_get(spec, "clusterIP")));
	set_default(spec, "ipFamilies", json_pack("[s]", "IPv4"));
	set_default(spec, "ipFamilyPolicy", json_string("SingleStack"));
	set_default(spec, "internalTrafficPolicy", json_string("Cluster"));
	if (type && (strcmp(type, "NodePort") == 0 || strcmp(type, "LoadBalancer") == 0))
		set_default(spec, "externalTrafficPolicy", json_string("Cluster"));
	if (type && strcmp(type, "LoadBalancer") == 0)
		set_default(spec, "allocateLoadBalancerNodePorts", json_true());
	set_default(obj, "status", json_pack("{s:{}}", "loadBalancer"));
}

static void default_secret(json_t *obj)
{
	json_t *sd = json_object_get(obj, "stringData"), *v;
	const char *key;

	set_default(obj, "type", json_string("Opaque"));
	if (sd) {
		json_t *data = child(obj, "data");
		json_object_foreach(sd, key, v) {
			const char *s = json_string_value(v) ? json_string_value(v) : "";
			size_t n = strlen(s);
			char *out = xmalloc(4 * ((n + 2) / 3) + 1);
			EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
			json_object_set_new(data, key, json_string(out));
			free(out);
		}
		json_object_del(obj, "stringData");
	}
}

void schema_default(struct fake_kube *k, const struct kr *r, json_t *obj, json_t *old)
{
	const char *res = r->resource;
	json_t *spec;

	if (strcmp(res, "deployments") == 0) {
		json_t *st;
		spec = child(obj, "spec");
		set_default(spec, "replicas", json_integer(1));
		set_default(spec, "revisionHistoryLimit", json_integer(10));
		set_default(spec, "progressDeadlineSeconds", json_integer(600));
		st = child(spec, "strategy");
		set_default(st, "type", json_string("RollingUpdate"));
		if (strcmp(json_string_value(json_object_get(st, "type")) ? json_string_value(json_object_get(st, "type")) : "",
			   "RollingUpdate") == 0) {
			json_t *ru = child(st, "rollingUpdate");
			set_default(ru, "maxUnavailable", json_string("25%"));
			set_default(ru, "maxSurge", json_string("25%"));
		}
		default_template(json_object_get(spec, "template"));
		set_default(obj, "status", json_object());
	} else if (strcmp(res, "replicasets") == 0) {
		spec = child(obj, "spec");
		set_default(spec, "replicas", json_integer(1));
		default_template(json_object_get(spec, "template"));
		set_default(obj, "status", json_pack("{s:i}", "replicas", 0));
	} else if (strcmp(res, "jobs") == 0) {
		const char *uid = json_string_value(json_object_get(json_object_get(obj, "metadata"), "uid"));
		json_t *tm;
		spec = child(obj, "spec");
		default_job_spec(spec);
		if (!json_is_true(json_object_get(spec, "manualSelector")) && uid && !old) {
			const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
			json_object_set_new(spec, "selector", json_pack("{s:{s:s}}", "matchLabels",
									"batch.kubernetes.io/controller-uid", uid));
			tm = child(child(child(spec, "template"), "metadata"), "labels");
			json_object_set_new(tm, "batch.kubernetes.io/controller-uid", json_string(uid));
			json_object_set_new(tm, "batch.kubernetes.io/job-name", json_string(name ? name : ""));
			json_object_set_new(tm, "controller-uid", json_string(uid));
			json_object_set_new(tm, "job-name", json_string(name ? name : ""));
		}
		set_default(obj, "status", json_object());
	} else if (strcmp(res, "cronjobs") == 0) {
		json_t *jt;
		spec = child(obj, "spec");
		set_default(spec, "concurrencyPolicy", json_string("Allow"));
		set_default(spec, "suspend", json_false());
		set_default(spec, "successfulJobsHistoryLimit", json_integer(3));
		set_default(spec, "failedJobsHistoryLimit", json_integer(1));
		jt = child(spec, "jobTemplate");
		json_object_set_new(child(jt, "metadata"), "creationTimestamp", json_null());
		/* SetDefaults_Job is for Jobs: a CronJob's job template gets the pod defaults only */
		default_template(json_object_get(child(jt, "spec"), "template"));
		set_default(obj, "status", json_object());
	} else if (strcmp(res, "daemonsets") == 0 || strcmp(res, "statefulsets") == 0) {
		default_template(json_object_get(json_object_get(obj, "spec"), "template"));
	} else if (strcmp(res, "pods") == 0) {
		default_pod_spec(child(obj, "spec"));
		set_default(child(obj, "spec"), "enableServiceLinks", json_true());
		set_default(child(obj, "spec"), "preemptionPolicy", json_string("PreemptLowerPriority"));
		set_default(child(obj, "spec"), "priority", json_integer(0));
		set_default(obj, "status", json_pack("{s:s, s:s}", "phase", "Pending", "qosClass", "BestEffort"));
	} else if (strcmp(res, "services") == 0) {
		default_service(k, obj, old);
	} else if (strcmp(res, "secrets") == 0) {
		default_secret(obj);
	} else if (strcmp(res, "namespaces") == 0) {
		json_t *labels = child(child(obj, "metadata"), "labels");
		const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
		json_object_set_new(labels, "kubernetes.io/metadata.name", json_string(name ? name : ""));
		set_default(child(obj, "spec"), "finalizers", json_pack("[s]", "kubernetes"));
		set_default(obj, "status", json_pack("{s:s}", "phase", "Active"));
	} else if (strcmp(res, "poddisruptionbudgets") == 0) {
		set_default(obj, "status", json_pack("{s:i, s:i, s:i, s:i}", "disruptionsAllowed", 0, "currentHealthy", 0,
						      "desiredHealthy", 0, "expectedPods", 0));
	}
	(void)k;
}
