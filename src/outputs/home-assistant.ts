// Home Assistant MQTT discovery: the retained config messages that make each camera appear in
// Home Assistant as a device with three entities, built as pure data so that tests and the README
// can list them. mqtt-output.ts publishes them (retained, QoS 1) on every connect when enabled.
//
// Per camera, on `<discoveryPrefix>/<component>/<nodeId>_<camera>/<object>/config` (Home
// Assistant's single-component discovery topic, `<discovery_prefix>/<component>/[<node_id>/]<object_id>/config`):
//   sensor/last_person        the last recognised person: the user's name, else the user's id,
//                             else 'unknown', from the recognition topic
//   binary_sensor/unknown_face ON while an unknown face was seen (occupancy), back to OFF after
//                             UNKNOWN_FACE_OFF_DELAY_S without another one (off_delay)
//   binary_sensor/status      the camera stream's connectivity, from the retained status topic
//
// Keys used (Home Assistant's MQTT sensor and binary_sensor documentation): name, has_entity_name,
// icon, unique_id, state_topic, value_template, device_class, payload_on, payload_off, off_delay, qos,
// availability_topic, payload_available, payload_not_available, and device {identifiers, name,
// manufacturer, model}. Each unique_id is `<nodeId>_<camera>_<object>`; every entity is
// unavailable while facegate's availability topic says 'offline' (its last will, or close()).
// Ids are letters, digits, '_' and '-' (camera ids and nodeId are checked to be so), which is
// what Home Assistant accepts in a node_id and object_id.

/** The retained availability payloads (the last will says OFFLINE). */
export const AVAILABILITY_ONLINE = 'online';
export const AVAILABILITY_OFFLINE = 'offline';

/**
 * How long the "unknown face" binary sensor stays ON after the last unknown face: long enough to
 * act on (an automation, a notification), short enough that it means "someone unknown is there now".
 */
export const UNKNOWN_FACE_OFF_DELAY_S = 10;

export const DEFAULT_DISCOVERY_PREFIX = 'homeassistant';

/** The topics facegate publishes under `topicPrefix` (mqtt-output.ts publishes, this file announces). */
export const topics = {
  recognition: (prefix: string, cameraId: string): string => `${prefix}/${cameraId}/recognition`,
  access: (prefix: string, cameraId: string): string => `${prefix}/${cameraId}/access`,
  status: (prefix: string, cameraId: string): string => `${prefix}/${cameraId}/status`,
  test: (prefix: string): string => `${prefix}/test`,
  availability: (prefix: string): string => `${prefix}/availability`,
};

export interface DiscoveryOptions {
  topicPrefix: string;
  nodeId: string;
  discoveryPrefix: string;
  cameras: readonly string[];
}

/** One retained discovery config: its topic and the JSON object to publish there. */
export interface DiscoveryMessage {
  topic: string;
  config: Record<string, unknown>;
}

type Component = 'sensor' | 'binary_sensor';

/** The device Home Assistant groups a camera's entities under. */
function device(nodeId: string, camera: string): Record<string, unknown> {
  return {
    identifiers: [`${nodeId}_${camera}`],
    // With has_entity_name, Home Assistant names entities "<device> <entity>": entity ids come
    // out as sensor.<camera>_last_person, binary_sensor.<camera>_unknown_face, …_status.
    name: camera,
    manufacturer: 'facegate',
    model: 'face recognition camera',
  };
}

function entity(
  options: DiscoveryOptions,
  camera: string,
  component: Component,
  object: string,
  fields: Record<string, unknown>,
): DiscoveryMessage {
  const { nodeId, discoveryPrefix, topicPrefix } = options;
  const uniqueId = `${nodeId}_${camera}_${object}`;
  return {
    topic: `${discoveryPrefix}/${component}/${nodeId}_${camera}/${object}/config`,
    config: {
      ...fields,
      unique_id: uniqueId,
      has_entity_name: true,
      qos: 1,
      availability_topic: topics.availability(topicPrefix),
      payload_available: AVAILABILITY_ONLINE,
      payload_not_available: AVAILABILITY_OFFLINE,
      device: device(nodeId, camera),
    },
  };
}

/** The discovery configs for one camera, in a fixed order (sensor first). */
export function cameraDiscovery(options: DiscoveryOptions, camera: string): DiscoveryMessage[] {
  const recognition = topics.recognition(options.topicPrefix, camera);
  return [
    entity(options, camera, 'sensor', 'last_person', {
      name: 'Last person',
      icon: 'mdi:account',
      state_topic: recognition,
      // JSON null is None in the template: falsy, so `or` falls through to the next choice.
      value_template: "{{ value_json.userName or value_json.matchedUserId or 'unknown' }}",
    }),
    entity(options, camera, 'binary_sensor', 'unknown_face', {
      name: 'Unknown face',
      device_class: 'occupancy',
      state_topic: recognition,
      value_template: "{{ 'ON' if value_json.isUnknown else 'OFF' }}",
      payload_on: 'ON',
      payload_off: 'OFF',
      off_delay: UNKNOWN_FACE_OFF_DELAY_S,
    }),
    entity(options, camera, 'binary_sensor', 'status', {
      name: 'Status',
      device_class: 'connectivity',
      state_topic: topics.status(options.topicPrefix, camera),
      value_template: "{{ 'ON' if value_json.state == 'online' else 'OFF' }}",
      payload_on: 'ON',
      payload_off: 'OFF',
    }),
  ];
}

/** Every camera's discovery configs, cameras in the order given. */
export function discoveryMessages(options: DiscoveryOptions): DiscoveryMessage[] {
  return options.cameras.flatMap((camera) => cameraDiscovery(options, camera));
}
