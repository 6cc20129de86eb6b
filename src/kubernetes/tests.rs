//! Exact expectations for every builder, on an application cluster, a session cluster and an HA cluster.

use serde_json::{Value, json};

use super::*;
use crate::runtime::{DeployIntent, Restore, cluster};

fn deployment(yaml: &str) -> FlinkDeployment {
    crate::manifests::yaml::from_str(yaml).unwrap()
}

const ORDERS: &str = r#"
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: orders, namespace: streaming, uid: 9f1c-uid, generation: 4}
spec:
  flinkVersion: v2_3
  image: flink:2.3
  serviceAccount: flink
  flinkConfiguration:
    taskmanager.numberOfTaskSlots: "2"
  jobManager:
    resource: {memory: 1024m, cpu: 0.5}
  taskManager:
    resource: {memory: 2g, cpu: 1, ephemeralStorage: 10Gi}
  job:
    jarURI: local:///opt/flink/usrlib/job.jar
    entryClass: io.flinkops.Job
    args: ["--rate", "200"]
    parallelism: 3
    upgradeMode: savepoint
"#;

fn objects(yaml: &str, intent: &DeployIntent) -> ClusterObjects {
    let deployment = deployment(yaml);
    let spec = cluster::build(&deployment, intent).unwrap();
    build_cluster(&deployment, &spec, &KubernetesDefaults::default()).unwrap()
}

fn intent() -> DeployIntent {
    DeployIntent {
        job_id: Some("a".repeat(32)),
        restore: Some(Restore { path: "s3://sp/savepoint-1".into(), allow_non_restored_state: true }),
    }
}

fn value<T: serde::Serialize>(object: &T) -> Value {
    serde_json::to_value(object).unwrap()
}

fn owner() -> Value {
    json!([{"apiVersion": "flink.apache.org/v1beta1", "kind": "FlinkDeployment", "name": "orders", "uid": "9f1c-uid",
            "controller": true, "blockOwnerDeletion": true}])
}

fn labels(component: Option<&str>) -> Value {
    let mut labels =
        json!({"app": "orders", "app.kubernetes.io/managed-by": "flinkops", "type": "flink-standalone-kubernetes"});
    if let Some(component) = component {
        labels["component"] = json!(component);
    }
    labels
}

fn selector(component: &str) -> Value {
    json!({"app": "orders", "component": component, "type": "flink-standalone-kubernetes"})
}

fn main_container(args: Value, ports: Value, resources: Value) -> Value {
    json!({
        "name": "flink-main-container",
        "image": "flink:2.3",
        "imagePullPolicy": "IfNotPresent",
        "command": ["/docker-entrypoint.sh"],
        "args": args,
        "env": [{"name": "_POD_IP_ADDRESS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
        "ports": ports,
        "resources": resources,
        "volumeMounts": [{"name": "flink-config-volume", "mountPath": "/opt/flink/conf"}]
    })
}

fn config_volume() -> Value {
    json!([{"name": "flink-config-volume", "configMap": {"name": "flink-config-orders"}}])
}

#[test]
fn an_application_jobmanager_runs_standalone_job_with_the_operator_s_intent() {
    let mut container = main_container(
        json!([
            "standalone-job",
            "--job-classname",
            "io.flinkops.Job",
            "--job-id",
            "a".repeat(32),
            "--allowNonRestoredState",
            "--fromSavepoint",
            "s3://sp/savepoint-1",
            "--rate",
            "200"
        ]),
        json!([{"name": "rest", "containerPort": 8081, "protocol": "TCP"},
               {"name": "jobmanager-rpc", "containerPort": 6123, "protocol": "TCP"},
               {"name": "blobserver", "containerPort": 6124, "protocol": "TCP"}]),
        json!({"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "500m", "memory": "1Gi"}}),
    );
    container["readinessProbe"] = json!({"httpGet": {"path": "/config", "port": "rest"}, "periodSeconds": 5});
    let expected = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "orders", "namespace": "streaming", "labels": labels(Some("jobmanager")), "ownerReferences": owner(),
            "annotations": {"flinkdeployment.flink.apache.org/generation": "4"}
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector("jobmanager")},
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {"labels": labels(Some("jobmanager"))},
                "spec": {"containers": [container], "serviceAccountName": "flink", "volumes": config_volume()}
            }
        }
    });
    assert_eq!(value(&objects(ORDERS, &intent()).jobmanager), expected);
}

#[test]
fn a_fresh_start_has_no_restore_arguments() {
    let intent = DeployIntent { job_id: Some("b".repeat(32)), restore: None };
    let args = value(&objects(ORDERS, &intent).jobmanager)["spec"]["template"]["spec"]["containers"][0]["args"].clone();
    assert_eq!(
        args,
        json!(["standalone-job", "--job-classname", "io.flinkops.Job", "--job-id", "b".repeat(32), "--rate", "200"])
    );
}

#[test]
fn taskmanagers_follow_the_cluster_spec() {
    let expected = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "orders-taskmanager", "namespace": "streaming", "labels": labels(Some("taskmanager")),
            "ownerReferences": owner(), "annotations": {"flinkdeployment.flink.apache.org/generation": "4"}
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": selector("taskmanager")},
            "template": {
                "metadata": {"labels": labels(Some("taskmanager"))},
                "spec": {
                    "containers": [main_container(
                        json!(["taskmanager"]),
                        json!([{"name": "taskmanager-rpc", "containerPort": 6122, "protocol": "TCP"}]),
                        json!({"requests": {"cpu": "1", "memory": "2Gi", "ephemeral-storage": "10Gi"},
                               "limits": {"cpu": "1", "memory": "2Gi", "ephemeral-storage": "10Gi"}}),
                    )],
                    "serviceAccountName": "flink",
                    "volumes": config_volume()
                }
            }
        }
    });
    assert_eq!(value(&objects(ORDERS, &intent()).taskmanager), expected, "ceil(parallelism 3 / 2 slots) = 2");
}

#[test]
fn the_services_select_the_jobmanager() {
    let objects = objects(ORDERS, &intent());
    let meta = |name: &str| json!({"name": name, "namespace": "streaming", "labels": labels(Some("jobmanager")), "ownerReferences": owner()});
    assert_eq!(
        value(&objects.rest_service),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": meta("orders-rest"), "spec": {
            "type": "ClusterIP", "selector": selector("jobmanager"),
            "ports": [{"name": "rest", "port": 8081, "targetPort": 8081, "protocol": "TCP"}]}})
    );
    assert_eq!(
        value(&objects.internal_service),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": meta("orders"), "spec": {
            "type": "ClusterIP", "clusterIP": "None", "selector": selector("jobmanager"),
            "ports": [{"name": "jobmanager-rpc", "port": 6123, "targetPort": 6123, "protocol": "TCP"},
                      {"name": "blobserver", "port": 6124, "targetPort": 6124, "protocol": "TCP"}]}})
    );
    assert!(objects.ingress.is_none());
}

#[test]
fn the_config_map_holds_the_flink_and_log_configuration() {
    let config_map = value(&objects(ORDERS, &intent()).config_map);
    assert_eq!(
        config_map["metadata"],
        json!({"name": "flink-config-orders", "namespace": "streaming", "labels": labels(None), "ownerReferences": owner()})
    );
    let data = config_map["data"].as_object().unwrap();
    let keys: Vec<_> = data.keys().map(String::as_str).collect();
    assert_eq!(keys, ["config.yaml", "log4j-console.properties"]);
    assert_eq!(data["log4j-console.properties"], config::DEFAULT_LOG4J_CONSOLE);
    assert_eq!(
        data["config.yaml"],
        "blob.server.port: \"6124\"\n\
         execution.checkpointing.externalized-checkpoint-retention: RETAIN_ON_CANCELLATION\n\
         execution.shutdown-on-application-finish: \"false\"\n\
         execution.submit-failed-job-on-application-error: \"true\"\n\
         jobmanager.bind-host: \"0.0.0.0\"\n\
         jobmanager.memory.process.size: \"1g\"\n\
         jobmanager.rpc.address: orders\n\
         jobmanager.rpc.port: \"6123\"\n\
         kubernetes.cluster-id: orders\n\
         kubernetes.jobmanager.cpu.amount: \"0.5\"\n\
         kubernetes.namespace: streaming\n\
         kubernetes.taskmanager.cpu.amount: \"1\"\n\
         parallelism.default: \"3\"\n\
         pipeline.classpaths: file:///opt/flink/usrlib/job.jar\n\
         pipeline.name: orders\n\
         rest.bind-address: \"0.0.0.0\"\n\
         rest.port: \"8081\"\n\
         taskmanager.bind-host: \"0.0.0.0\"\n\
         taskmanager.memory.process.size: \"2g\"\n\
         taskmanager.numberOfTaskSlots: \"2\"\n\
         taskmanager.rpc.port: \"6122\"\n"
    );
}

const SESSION_1X: &str = r#"
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: orders, namespace: streaming, uid: 9f1c-uid}
spec:
  flinkVersion: v1_20
  flinkConfiguration: {kubernetes.rest-service.exposed.type: NodePort}
  logConfiguration: {"log4j-console.properties": "rootLogger.level = DEBUG\n"}
  taskManager: {replicas: 3}
"#;

#[test]
fn a_session_cluster_runs_the_jobmanager_entry_point_and_flink_1_reads_flink_conf_yaml() {
    let objects = objects(SESSION_1X, &DeployIntent::default());
    let jm = value(&objects.jobmanager);
    let container = &jm["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["args"], json!(["jobmanager"]));
    assert_eq!(container["image"], "flink:1.20", "the official image of the spec's Flink version");
    assert_eq!(jm["spec"]["template"]["spec"].get("serviceAccountName"), None);
    assert_eq!(value(&objects.taskmanager)["spec"]["replicas"], 3);
    assert_eq!(value(&objects.rest_service)["spec"]["type"], "NodePort");
    let data = value(&objects.config_map)["data"].clone();
    assert_eq!(data["log4j-console.properties"], "rootLogger.level = DEBUG\n", "the spec's log configuration wins");
    let conf = data["flink-conf.yaml"].as_str().unwrap();
    assert!(conf.contains("jobmanager.memory.process.size: 1600m\n"), "{conf}");
    assert!(!conf.contains("pipeline.classpaths"), "{conf}");
    assert!(data.get("config.yaml").is_none());
}

#[test]
fn kubernetes_ha_advertises_the_pod_ip() {
    let ha = ORDERS.replace(
        "taskmanager.numberOfTaskSlots: \"2\"",
        "taskmanager.numberOfTaskSlots: \"2\"\n    high-availability.type: kubernetes\n    high-availability.storageDir: s3://ha",
    );
    let ha = ha.replace("jobManager:\n", "jobManager:\n    replicas: 2\n");
    let objects = objects(&ha, &DeployIntent { job_id: Some("c".repeat(32)), restore: None });
    let jm = value(&objects.jobmanager);
    assert_eq!(jm["spec"]["replicas"], 2);
    assert_eq!(
        jm["spec"]["template"]["spec"]["containers"][0]["args"],
        json!([
            "standalone-job",
            "--job-classname",
            "io.flinkops.Job",
            "--job-id",
            "c".repeat(32),
            "-Djobmanager.rpc.address=$(_POD_IP_ADDRESS)",
            "--rate",
            "200"
        ])
    );
    let conf = value(&objects.config_map)["data"]["config.yaml"].as_str().unwrap().to_owned();
    assert!(conf.contains("high-availability.cluster-id: orders\n"), "{conf}");
    assert!(conf.contains("high-availability.storageDir: s3://ha\n"), "{conf}");
}

#[test]
fn the_ingress_follows_spec_ingress() {
    let with_ingress = ORDERS.replace(
        "  serviceAccount: flink\n",
        "  serviceAccount: flink\n  ingress:\n    template: \"flink.example.com/{{namespace}}/{{name}}(/|$)(.*)\"\n    className: nginx\n    annotations: {nginx.ingress.kubernetes.io/rewrite-target: \"/$2\"}\n    labels: {team: data}\n    tls: [{hosts: [flink.example.com], secretName: flink-tls}]\n",
    );
    let mut labels = labels(None);
    labels["team"] = json!("data");
    assert_eq!(
        value(&objects(&with_ingress, &intent()).ingress.unwrap()),
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "orders", "namespace": "streaming", "labels": labels, "ownerReferences": owner(),
                         "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/$2"}},
            "spec": {
                "ingressClassName": "nginx",
                "rules": [{"host": "flink.example.com", "http": {"paths": [{
                    "path": "/streaming/orders(/|$)(.*)", "pathType": "ImplementationSpecific",
                    "backend": {"service": {"name": "orders-rest", "port": {"number": 8081}}}}]}}],
                "tls": [{"hosts": ["flink.example.com"], "secretName": "flink-tls"}]
            }
        })
    );
}

const TEMPLATED: &str = r#"
apiVersion: flink.apache.org/v1beta1
kind: FlinkDeployment
metadata: {name: orders, namespace: streaming, uid: 9f1c-uid}
spec:
  flinkVersion: v2_3
  image: flink:2.3
  podTemplate:
    metadata: {labels: {team: data}}
    spec:
      serviceAccountName: template-sa
      containers:
        - name: flink-main-container
          env: [{name: AWS_REGION, value: eu-west-1}]
          volumeMounts: [{name: logs, mountPath: /opt/flink/log}]
        - name: fluentbit
          image: fluent/fluent-bit:1.9.6
      volumes: [{name: logs, emptyDir: {}}]
  jobManager:
    resources: {requests: {memory: 2048m, cpu: "1"}}
    podTemplate:
      spec:
        initContainers: [{name: fetch, image: busybox:1.35.0}]
        containers:
          - name: flink-main-container
            env: [{name: ROLE, value: jm}]
  job: {jarURI: "local:///opt/flink/usrlib/job.jar"}
"#;

#[test]
fn pod_templates_merge_common_then_specific_around_the_main_container() {
    let objects = objects(TEMPLATED, &DeployIntent { job_id: Some("d".repeat(32)), restore: None });
    let jm = value(&objects.jobmanager)["spec"]["template"].clone();
    let tm = value(&objects.taskmanager)["spec"]["template"].clone();
    assert_eq!(jm["metadata"]["labels"]["team"], "data");
    assert_eq!(jm["spec"]["serviceAccountName"], "template-sa", "no configured account: the template's stays");
    assert_eq!(jm["spec"]["initContainers"], json!([{"name": "fetch", "image": "busybox:1.35.0"}]));
    assert_eq!(tm["spec"].get("initContainers"), None, "the JobManager's template is its own");
    let names = |pod: &Value| -> Vec<String> {
        pod["spec"]["containers"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(&jm), ["flink-main-container", "fluentbit"]);
    assert_eq!(names(&tm), ["flink-main-container", "fluentbit"]);
    let jm_main = &jm["spec"]["containers"][0];
    assert_eq!(
        jm_main["env"],
        json!([{"name": "ROLE", "value": "jm"},
               {"name": "_POD_IP_ADDRESS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}]),
        "by index, the JobManager's env entry 0 replaced the common one"
    );
    assert_eq!(
        jm_main["volumeMounts"],
        json!([{"name": "logs", "mountPath": "/opt/flink/log"}, {"name": "flink-config-volume", "mountPath": "/opt/flink/conf"}])
    );
    assert_eq!(jm_main["resources"], json!({"requests": {"memory": "2Gi", "cpu": "1"}}), "2048m is 2048 MiB");
    assert_eq!(tm["spec"]["containers"][0]["env"][0], json!({"name": "AWS_REGION", "value": "eu-west-1"}));
    assert_eq!(
        jm["spec"]["volumes"],
        json!([{"name": "logs", "emptyDir": {}}, {"name": "flink-config-volume", "configMap": {"name": "flink-config-orders"}}])
    );
    let by_name = TEMPLATED.replace(
        "  image: flink:2.3\n",
        "  image: flink:2.3\n  flinkConfiguration: {kubernetes.operator.pod-template.merge-arrays-by-name: \"true\"}\n",
    );
    let jm = value(&self::objects(&by_name, &DeployIntent { job_id: Some("d".repeat(32)), restore: None }).jobmanager);
    let env: Vec<_> = jm["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].clone())
        .collect();
    assert_eq!(env, [json!("AWS_REGION"), json!("ROLE"), json!("_POD_IP_ADDRESS")], "by name, both entries are kept");
}

#[test]
fn the_image_comes_from_the_spec_the_config_the_defaults_or_the_flink_version() {
    let deployment = deployment(SESSION_1X);
    let spec = cluster::build(&deployment, &DeployIntent::default()).unwrap();
    let image = |defaults: &KubernetesDefaults| {
        let objects = build_cluster(&deployment, &spec, defaults).unwrap();
        value(&objects.taskmanager)["spec"]["template"]["spec"]["containers"][0]["image"].clone()
    };
    assert_eq!(image(&KubernetesDefaults::default()), "flink:1.20");
    let defaults = KubernetesDefaults {
        image: Some("registry/flink:1.20.1".into()),
        service_account: Some("flink".into()),
        ..Default::default()
    };
    assert_eq!(image(&defaults), "registry/flink:1.20.1");
    let objects = build_cluster(&deployment, &spec, &defaults).unwrap();
    assert_eq!(value(&objects.jobmanager)["spec"]["template"]["spec"]["serviceAccountName"], "flink");

    let mut versionless = deployment.clone();
    versionless.spec.flink_version = None;
    let spec = cluster::build(&versionless, &DeployIntent::default()).unwrap();
    assert!(matches!(
        build_cluster(&versionless, &spec, &KubernetesDefaults::default()),
        Err(BuildError::MissingImage(_))
    ));
}

#[test]
fn objects_are_only_built_for_a_stored_deployment_and_its_own_spec() {
    let mut stored = deployment(SESSION_1X);
    let spec = cluster::build(&stored, &DeployIntent::default()).unwrap();
    stored.metadata.uid = None;
    assert!(matches!(build_cluster(&stored, &spec, &KubernetesDefaults::default()), Err(BuildError::MissingUid(_))));
    let mut other = deployment(SESSION_1X);
    other.metadata.name = Some("other".into());
    let error = build_cluster(&other, &spec, &KubernetesDefaults::default()).unwrap_err();
    assert_eq!(error.to_string(), "cluster spec streaming/orders does not belong to FlinkDeployment streaming/other");
}

#[test]
fn bad_inputs_are_named_with_their_field() {
    let s3 = ORDERS.replace("local:///opt/flink/usrlib/job.jar", "s3://bucket/job.jar");
    let deployment = deployment(&s3);
    let spec = cluster::build(&deployment, &intent()).unwrap();
    let error = build_cluster(&deployment, &spec, &KubernetesDefaults::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "streaming/orders: jarURI \"s3://bucket/job.jar\" is not supported; use local://, file://, http:// or https://"
    );
    let bad_type = SESSION_1X.replace("NodePort", "Public");
    let deployment = self::deployment(&bad_type);
    let spec = cluster::build(&deployment, &DeployIntent::default()).unwrap();
    let error = build_cluster(&deployment, &spec, &KubernetesDefaults::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "streaming/orders: flinkConfiguration kubernetes.rest-service.exposed.type: \"Public\" is not one of ClusterIP, NodePort, LoadBalancer, Headless_ClusterIP"
    );
}
