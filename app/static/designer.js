/* The process designer workspace: the draft's BPMN in a bpmn-js modeller, a side panel for the
   selected element (form, step time limit, lane department) or for the service item, a form
   editor with a server-rendered preview, and save / validate / deploy against the draft endpoints.
   All user-visible texts come from the template (#designer-texts), already translated. */
(function () {
  "use strict";

  // The same formats the case clock accepts (2wd, 3d, 4h).
  var STEP_LIMIT_PATTERN = /^[0-9]{1,3}(wd|d|h)$/;
  var FORM_KEY_PATTERN = /^[a-z][a-z0-9_]*$/;
  var PREVIEW_DELAY_MS = 400;
  var FORM_SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema";
  // Rejection of a draft that was not sent because the user has been told what to fix first.
  var NOT_SENT = new Error("not sent");

  var root = null;
  var ui = {};
  var texts = {};
  var modeler = null;

  var state = {
    processId: "",
    ready: false,
    busy: false,
    busyText: "",
    revision: 0,
    updatedBy: null,
    updatedAt: null,
    forms: {},
    item: null,
    // The settings last shown before "no service item" was ticked, so unticking brings them back.
    setAsideItem: null,
    materialsError: null,
    departments: [],
    formKeys: [],
    choices: {},
    dirty: false,
    changeCount: 0,
    problems: [],
    conflict: null,
    panelElement: null
  };

  var formEditor = {key: null, previewTimer: null, previewSeq: 0, loaded: false};

  // ---------------------------------------------------------------- texts and small helpers

  function readTexts() {
    var holder = document.getElementById("designer-texts");
    var result = {};
    if (!holder) { return result; }
    Object.keys(holder.dataset).forEach(function (name) { result[name] = holder.dataset[name]; });
    return result;
  }

  // Fills {name} slots; the template renders them into the translated texts.
  function text(name, values) {
    var template = texts[name] || name;
    return template.replace(/\{(\w+)\}/g, function (whole, key) {
      return values && values[key] !== undefined && values[key] !== null ? String(values[key]) : whole;
    });
  }

  function hasOwn(object, key) {
    return Object.prototype.hasOwnProperty.call(object, key);
  }

  function copyObject(object) {
    var result = {};
    Object.keys(object || {}).forEach(function (key) { result[key] = object[key]; });
    return result;
  }

  function isA(businessObject, type) {
    return !!businessObject && typeof businessObject.$instanceOf === "function" && businessObject.$instanceOf(type);
  }

  function setHidden(node, hidden) {
    if (node) { node.hidden = !!hidden; }
  }

  function formatTime(iso) {
    if (!iso) { return ""; }
    var date = new Date(iso);
    if (isNaN(date.getTime())) { return String(iso); }
    try {
      return date.toLocaleString(document.documentElement.lang || undefined, {dateStyle: "short", timeStyle: "short"});
    } catch (e) {
      return date.toLocaleString();
    }
  }

  function byTestId(id) {
    return root.querySelector("[data-testid=\"" + id + "\"]");
  }

  // ---------------------------------------------------------------- HTTP

  function csrfToken() {
    if (root.dataset.csrfToken) { return root.dataset.csrfToken; }
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  // Resolves with {status, ok, data (parsed JSON or null), body (text)}; rejects (error.network)
  // only when the server could not be reached, so callers decide per status what the user is told.
  function request(method, url, payload) {
    var options = {method: method, credentials: "same-origin", headers: {Accept: "application/json, text/html"}};
    if (payload !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.headers["X-CSRFToken"] = csrfToken();
      options.body = JSON.stringify(payload);
    }
    return window.fetch(url, options).then(function (response) {
      return response.text().then(function (body) {
        var data = null;
        if ((response.headers.get("Content-Type") || "").indexOf("json") !== -1) {
          try { data = JSON.parse(body); } catch (e) { data = null; }
        }
        return {status: response.status, ok: response.ok, data: data, body: body};
      });
    }, function () {
      var error = new Error("network");
      error.network = true;
      throw error;
    });
  }

  function requestFailedText(response) {
    return text("serverError", {status: response.status});
  }

  // What went wrong before an answer came (NOT_SENT: nothing was sent and the user knows why).
  function failureText(error) {
    if (error && error.network) { return text("networkError"); }
    return String((error && error.message) || error);
  }

  // ---------------------------------------------------------------- messages and status

  function showMessage(kind, message) {
    ui.message.className = "alert alert-" + kind + " py-2 mb-2";
    ui.message.textContent = message;
  }

  function clearMessage() {
    ui.message.className = "alert d-none py-2 mb-2";
    ui.message.textContent = "";
  }

  function renderStatus() {
    var parts = [];
    if (state.busyText) { parts.push(state.busyText); }
    if (!state.revision) {
      parts.push(text("statusNeverSaved"));
    } else if (state.updatedBy) {
      parts.push(text("statusSavedBy", {revision: state.revision, user: state.updatedBy, time: formatTime(state.updatedAt)}));
    } else {
      parts.push(text("statusSaved", {revision: state.revision, time: formatTime(state.updatedAt)}));
    }
    if (state.dirty) { parts.push(text("statusUnsaved")); }
    ui.status.textContent = parts.join(" · ");
    ui.status.dataset.dirty = String(state.dirty);
    ui.status.dataset.revision = String(state.revision);
    ui.status.classList.toggle("text-warning-emphasis", state.dirty);
  }

  function markDirty() {
    state.changeCount += 1;
    state.dirty = true;
    renderStatus();
  }

  // Changes made while a save was on its way stay unsaved.
  function markSaved(changeCountAtSave) {
    state.dirty = state.changeCount !== changeCountAtSave;
    renderStatus();
  }

  function setBusy(busyText) {
    state.busy = !!busyText;
    state.busyText = busyText || "";
    updateActionButtons();
    renderStatus();
  }

  function updateActionButtons() {
    root.querySelectorAll("[data-designer-action]").forEach(function (button) {
      button.disabled = state.busy || !state.ready;
    });
  }

  // ---------------------------------------------------------------- problems

  function clearProblemMarkers() {
    if (!modeler) { return; }
    var canvas = modeler.get("canvas");
    var registry = modeler.get("elementRegistry");
    registry.getAll().forEach(function (element) {
      canvas.removeMarker(element, "designer-problem-error");
      canvas.removeMarker(element, "designer-problem-warning");
    });
  }

  function addProblemMarkers(problems) {
    var canvas = modeler.get("canvas");
    problems.forEach(function (problem) {
      var element = problem.element_id ? findElement(problem.element_id) : null;
      if (!element || element === canvas.getRootElement()) { return; }
      canvas.addMarker(element, problem.severity === "error" ? "designer-problem-error" : "designer-problem-warning");
    });
  }

  function problemItem(problem) {
    var severity = problem.severity === "error" ? "error" : "warning";
    var item = document.createElement("li");
    item.className = "list-group-item designer-problem designer-problem-" + severity;
    item.dataset.elementId = problem.element_id || "";
    item.dataset.severity = severity;
    item.dataset.code = problem.code || "";

    var badge = document.createElement("span");
    badge.className = "badge me-2 " + (severity === "error" ? "text-bg-danger" : "text-bg-warning");
    badge.textContent = text(severity === "error" ? "severityError" : "severityWarning");
    item.appendChild(badge);
    item.appendChild(document.createTextNode(problem.message || problem.code || ""));

    var where = [];
    if (problem.element_id) { where.push(problem.element_id); }
    if (problem.line) { where.push(text("problemLine", {line: problem.line})); }
    if (where.length) {
      var detail = document.createElement("span");
      detail.className = "text-muted ms-2";
      detail.textContent = "(" + where.join(", ") + ")";
      item.appendChild(detail);
    }
    if (problem.element_id) {
      item.tabIndex = 0;
      item.setAttribute("role", "button");
      item.classList.add("list-group-item-action");
      item.addEventListener("click", function () { selectElement(problem.element_id); });
      item.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          selectElement(problem.element_id);
        }
      });
    }
    return item;
  }

  function problemSummary(problems) {
    var errors = problems.filter(function (p) { return p.severity === "error"; }).length;
    return text("problemCount", {errors: errors, warnings: problems.length - errors});
  }

  // problems === null puts the list back to its initial "validate to check" state.
  function showProblems(problems, emptyText) {
    state.problems = problems || [];
    ui.problems.textContent = "";
    clearProblemMarkers();
    if (problems === null) {
      ui.problemsSummary.textContent = ui.problemsSummary.dataset.initial;
      return;
    }
    state.problems.forEach(function (problem) { ui.problems.appendChild(problemItem(problem)); });
    if (modeler) { addProblemMarkers(state.problems); }
    ui.problemsSummary.textContent = state.problems.length ? problemSummary(state.problems) : (emptyText || text("noProblems"));
  }

  // ---------------------------------------------------------------- modeller: elements

  function findElement(id) {
    var registry = modeler.get("elementRegistry");
    var element = registry.get(id);
    if (element) { return element; }
    // A process is drawn as its participant (pool), if it has one.
    var participants = registry.filter(function (el) {
      return isA(el.businessObject, "bpmn:Participant") && el.businessObject.processRef && el.businessObject.processRef.id === id;
    });
    if (participants.length) { return participants[0]; }
    var rootElement = modeler.get("canvas").getRootElement();
    return rootElement && rootElement.businessObject && rootElement.businessObject.id === id ? rootElement : null;
  }

  function selectElement(id) {
    if (!modeler) { return false; }
    var element = findElement(id);
    if (!element) { return false; }
    var canvas = modeler.get("canvas");
    if (element === canvas.getRootElement()) {
      modeler.get("selection").select(null);
      return true;
    }
    modeler.get("selection").select(element);
    try { canvas.scrollToElement(element); } catch (e) { /* element on another plane: selected anyway */ }
    return true;
  }

  function selectedElement() {
    var selected = modeler.get("selection").get();
    if (selected.length !== 1) { return null; }
    var element = selected[0];
    return element.type === "label" && element.labelTarget ? element.labelTarget : element;
  }

  // Nested lanes all list their flow nodes; the innermost one names the department.
  function laneOf(businessObject) {
    var lanes = modeler.get("elementRegistry").filter(function (el) {
      return isA(el.businessObject, "bpmn:Lane") && (el.businessObject.get("flowNodeRef") || []).indexOf(businessObject) !== -1;
    });
    var innermost = lanes.filter(function (lane) {
      var children = lane.businessObject.childLaneSet;
      return !children || !(children.get("lanes") || []).length;
    });
    return (innermost[0] || lanes[0] || {}).businessObject || null;
  }

  function departmentByCode(code) {
    for (var i = 0; i < state.departments.length; i += 1) {
      if (state.departments[i].code === code) { return state.departments[i]; }
    }
    return null;
  }

  // ---------------------------------------------------------------- modeller: extension properties

  function propertiesContainer(businessObject) {
    var extensions = businessObject.get("extensionElements");
    if (!extensions) { return null; }
    var containers = (extensions.get("values") || []).filter(function (value) {
      return isA(value, "spiffworkflow:Properties");
    });
    return containers[0] || null;
  }

  function findProperty(container, name) {
    var found = (container ? container.get("properties") : []).filter(function (p) { return p.name === name; });
    return found[0] || null;
  }

  function getExtensionProperty(businessObject, name) {
    var property = findProperty(propertiesContainer(businessObject), name);
    return property && property.value !== undefined ? property.value : "";
  }

  // Each change is one modelling command, so it is undoable and marks the draft dirty.
  function removeExtensionProperty(element, name) {
    var modeling = modeler.get("modeling");
    var businessObject = element.businessObject;
    var container = propertiesContainer(businessObject);
    var property = findProperty(container, name);
    if (!property) { return; }
    var remaining = container.get("properties").filter(function (p) { return p !== property; });
    if (remaining.length) {
      modeling.updateModdleProperties(element, container, {properties: remaining});
      return;
    }
    // An empty container (and then an empty extensionElements) is not left behind.
    var extensions = businessObject.get("extensionElements");
    var values = extensions.get("values").filter(function (v) { return v !== container; });
    if (values.length) {
      modeling.updateModdleProperties(element, extensions, {values: values});
    } else {
      modeling.updateProperties(element, {extensionElements: undefined});
    }
  }

  function setExtensionProperty(element, name, value) {
    if (value === "" || value === null || value === undefined) {
      removeExtensionProperty(element, name);
      return;
    }
    var modeling = modeler.get("modeling");
    var moddle = modeler.get("moddle");
    var businessObject = element.businessObject;
    var container = propertiesContainer(businessObject);
    var property = findProperty(container, name);
    if (property) {
      if (property.value !== value) { modeling.updateModdleProperties(element, property, {value: value}); }
      return;
    }
    var newProperty = moddle.create("spiffworkflow:Property", {name: name, value: value});
    if (container) {
      newProperty.$parent = container;
      modeling.updateModdleProperties(element, container, {properties: container.get("properties").concat([newProperty])});
      return;
    }
    var newContainer = moddle.create("spiffworkflow:Properties", {properties: [newProperty]});
    newProperty.$parent = newContainer;
    var extensions = businessObject.get("extensionElements");
    if (extensions) {
      newContainer.$parent = extensions;
      modeling.updateModdleProperties(element, extensions, {values: extensions.get("values").concat([newContainer])});
      return;
    }
    var newExtensions = moddle.create("bpmn:ExtensionElements", {values: [newContainer]});
    newContainer.$parent = newExtensions;
    newExtensions.$parent = businessObject;
    modeling.updateProperties(element, {extensionElements: newExtensions});
  }

  // ---------------------------------------------------------------- selects

  function addOption(select, value, label) {
    var option = document.createElement("option");
    option.value = value;
    option.textContent = label;
    select.appendChild(option);
  }

  // options: [[value, label], ...]; a current value that is not offered stays visible as "(unknown)".
  function fillSelect(select, options, current, allowEmpty) {
    current = current === undefined || current === null ? "" : String(current);
    select.textContent = "";
    if (allowEmpty || current === "") { addOption(select, "", text("noValue")); }
    var offered = options.some(function (option) { return String(option[0]) === current; });
    options.forEach(function (option) { addOption(select, option[0], option[1]); });
    if (current !== "" && !offered) { addOption(select, current, text("unknownOption", {value: current})); }
    select.value = current;
  }

  function formKeyOptions() {
    var keys = {};
    state.formKeys.forEach(function (key) { keys[key] = false; });
    Object.keys(state.forms).forEach(function (key) { keys[key] = true; });
    return Object.keys(keys).sort().map(function (key) {
      return [key, keys[key] ? text("draftForm", {key: key}) : key];
    });
  }

  function isKnownFormKey(key) {
    return hasOwn(state.forms, key) || state.formKeys.indexOf(key) !== -1;
  }

  // ---------------------------------------------------------------- side panel: element

  // "bpmn:UserTask" is shown as the text typeUserTask; types without a text keep their BPMN name.
  function typeLabel(businessObject) {
    var name = businessObject.$type.replace(/^bpmn:/, "");
    return texts["type" + name] || name;
  }

  // A field the user is typing in is not overwritten, unless the panel moved to another element.
  function setFieldValue(input, value, elementId) {
    if (input !== document.activeElement || input.dataset.elementId !== elementId) { input.value = value; }
    input.dataset.elementId = elementId;
  }

  function isProcessLevel(element) {
    var businessObject = element.businessObject;
    return element === modeler.get("canvas").getRootElement() ||
      isA(businessObject, "bpmn:Participant") || isA(businessObject, "bpmn:Process") || isA(businessObject, "bpmn:Collaboration");
  }

  function showPanelSection(name) {
    root.querySelectorAll("[data-panel-section]").forEach(function (section) {
      section.hidden = section.getAttribute("data-panel-section") !== name;
    });
    ui.panel.dataset.section = name;
  }

  function renderTaskDepartment(businessObject) {
    var lane = laneOf(businessObject);
    var code = lane ? (lane.name || "").trim() : "";
    var department = code ? departmentByCode(code) : null;
    if (!lane) {
      ui.taskDepartment.textContent = text("noLane");
    } else if (department) {
      ui.taskDepartment.textContent = code + " · " + department.name;
    } else {
      ui.taskDepartment.textContent = text("unknownDepartment", {code: code || text("noValue")});
    }
    ui.taskDepartment.dataset.code = code;
  }

  function renderUserTask(element) {
    var businessObject = element.businessObject;
    renderTaskDepartment(businessObject);
    var formKey = getExtensionProperty(businessObject, "formKey");
    fillSelect(ui.propForm, formKeyOptions(), formKey, true);
    ui.editForm.disabled = !formKey;
    setFieldValue(ui.propStepLimit, getExtensionProperty(businessObject, "stepLimit"), businessObject.id);
    showStepLimitValidity();
  }

  function renderLane(element) {
    var name = (element.businessObject.name || "").trim();
    var options = state.departments.map(function (d) { return [d.code, d.code + " · " + d.name]; });
    fillSelect(ui.propDepartment, options, name, true);
  }

  function renderElement(element) {
    var businessObject = element.businessObject;
    var isLane = isA(businessObject, "bpmn:Lane");
    var isUserTask = isA(businessObject, "bpmn:UserTask");
    var isOtherTask = isA(businessObject, "bpmn:Task") && !isUserTask;

    ui.elementType.textContent = typeLabel(businessObject);
    ui.elementId.textContent = businessObject.id;
    setHidden(ui.namePart, isLane);
    setFieldValue(ui.propName, businessObject.name || "", businessObject.id);
    setHidden(ui.userTaskPart, !isUserTask);
    setHidden(ui.taskPart, !isOtherTask);
    setHidden(ui.lanePart, !isLane);
    if (isUserTask) { renderUserTask(element); }
    if (isLane) { renderLane(element); }
  }

  function renderPanel() {
    if (!modeler || !state.ready) { return; }
    var element = selectedElement();
    if (!element || isProcessLevel(element)) {
      state.panelElement = null;
      showPanelSection("item");
      return;
    }
    state.panelElement = element;
    showPanelSection("element");
    ui.panel.dataset.elementId = element.businessObject.id;
    renderElement(element);
  }

  // The element the panel shows, if it is still on the canvas (it may have been replaced or deleted).
  function panelElement() {
    var element = state.panelElement;
    if (!element || !modeler) { return null; }
    return modeler.get("elementRegistry").get(element.id) === element ? element : null;
  }

  function commitName() {
    var element = panelElement();
    if (!element || isA(element.businessObject, "bpmn:Lane")) { return; }
    var value = ui.propName.value;
    if ((element.businessObject.name || "") === value) { return; }
    modeler.get("modeling").updateLabel(element, value === "" ? null : value);
  }

  function stepLimitValue() {
    return ui.propStepLimit.value.trim();
  }

  function showStepLimitValidity() {
    var value = stepLimitValue();
    ui.propStepLimit.classList.toggle("is-invalid", value !== "" && !STEP_LIMIT_PATTERN.test(value));
  }

  // Malformed limits are not written: the field shows why, and the model keeps its last good value.
  function commitStepLimit() {
    var element = panelElement();
    if (!element || !isA(element.businessObject, "bpmn:UserTask")) { return; }
    var value = stepLimitValue();
    showStepLimitValidity();
    if (value !== "" && !STEP_LIMIT_PATTERN.test(value)) { return; }
    if (getExtensionProperty(element.businessObject, "stepLimit") === value) { return; }
    setExtensionProperty(element, "stepLimit", value);
  }

  // Text fields are written on change; this also writes them before saving or exporting, in case
  // the change event has not fired yet.
  function commitPanelEdits() {
    if (!state.ready || ui.panel.dataset.section !== "element") { return; }
    commitName();
    commitStepLimit();
  }

  function onFormChosen() {
    var element = panelElement();
    if (!element) { return; }
    setExtensionProperty(element, "formKey", ui.propForm.value);
  }

  function onDepartmentChosen() {
    var element = panelElement();
    if (!element || !isA(element.businessObject, "bpmn:Lane")) { return; }
    if ((element.businessObject.name || "") === ui.propDepartment.value) { return; }
    modeler.get("modeling").updateLabel(element, ui.propDepartment.value || null);
  }

  function newFormSchema(key) {
    return {"$schema": FORM_SCHEMA_URI, "title": key, "type": "object", "required": [], "properties": {}};
  }

  function createForm() {
    var answer = window.prompt(text("newFormPrompt"), "");
    if (answer === null) { return; }
    var key = answer.trim();
    if (!FORM_KEY_PATTERN.test(key)) {
      showMessage("danger", text("badFormKey", {key: key}));
      return;
    }
    if (!isKnownFormKey(key)) {
      state.forms[key] = newFormSchema(key);
      markDirty();
      refreshIntakeFormOptions();
    }
    var element = panelElement();
    if (element) { setExtensionProperty(element, "formKey", key); }
    renderPanel();
    openFormEditor(key);
  }

  function wirePanel() {
    ui.propName.addEventListener("change", commitName);
    ui.propName.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { commitName(); }
    });
    ui.propStepLimit.addEventListener("input", showStepLimitValidity);
    ui.propStepLimit.addEventListener("change", commitStepLimit);
    ui.propStepLimit.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { commitStepLimit(); }
    });
    ui.propForm.addEventListener("change", onFormChosen);
    ui.propDepartment.addEventListener("change", onDepartmentChosen);
    ui.editForm.addEventListener("click", function () { openFormEditor(ui.propForm.value); });
    ui.newForm.addEventListener("click", createForm);
  }

  // ---------------------------------------------------------------- side panel: service item

  function choices(name) {
    return (state.choices && state.choices[name]) || [];
  }

  function firstChoice(name) {
    var list = choices(name);
    return list.length ? list[0][0] : "";
  }

  function newItem() {
    return {
      code: "", name: "", name_en: "", case_type: firstChoice("case_type"), intake_form: "",
      retention: "", classification: "",
      statutory_limit: {value: null, unit: firstChoice("limit_unit")},
      committed_limit: {value: null, unit: firstChoice("limit_unit")},
      supplement_days: null, fee: "", legal_basis: "", description: "", materials: []
    };
  }

  function toInteger(raw) {
    var value = String(raw).trim();
    return /^-?[0-9]+$/.test(value) ? parseInt(value, 10) : null;
  }

  function materialsText(item) {
    return JSON.stringify(item && item.materials ? item.materials : [], null, 2);
  }

  function showMaterialsError(message) {
    state.materialsError = message || null;
    ui.itemMaterials.classList.toggle("is-invalid", !!message);
    ui.itemMaterialsError.textContent = message || "";
  }

  function refreshIntakeFormOptions() {
    var item = state.item || state.setAsideItem || {};
    fillSelect(ui.itemIntakeForm, formKeyOptions(), item.intake_form, true);
  }

  function renderItemField(input, item) {
    var field = input.dataset.itemField;
    var value = item[field];
    if (input.tagName === "SELECT") {
      var listName = input.dataset.choices;
      if (listName) { fillSelect(input, choices(listName), value, true); }
      return;
    }
    input.value = value === undefined || value === null ? "" : String(value);
  }

  function renderItemLimit(input, item) {
    var limit = item[input.dataset.itemLimit] || {};
    var value = limit[input.dataset.limitPart];
    if (input.tagName === "SELECT") {
      fillSelect(input, choices(input.dataset.choices), value, false);
    } else {
      input.value = value === undefined || value === null ? "" : String(value);
    }
  }

  // keepMaterialsText: leave the materials field as typed (it may hold JSON not parsed yet).
  function renderItem(keepMaterialsText) {
    var item = state.item || state.setAsideItem || newItem();
    ui.itemNone.checked = !state.item;
    ui.itemFields.disabled = !state.item;
    root.querySelectorAll("[data-item-field]").forEach(function (input) { renderItemField(input, item); });
    root.querySelectorAll("[data-item-limit]").forEach(function (input) { renderItemLimit(input, item); });
    fillSelect(ui.itemIntakeForm, formKeyOptions(), item.intake_form, true);
    if (!keepMaterialsText) {
      ui.itemMaterials.value = materialsText(item);
      showMaterialsError(null);
    }
  }

  function onItemFieldInput(event) {
    var input = event.target;
    if (!state.item) { return; }
    var field = input.dataset.itemField;
    state.item[field] = input.dataset.itemType === "integer" || input.type === "number" ? toInteger(input.value) : input.value;
    markDirty();
  }

  function onItemLimitInput(event) {
    var input = event.target;
    if (!state.item) { return; }
    var name = input.dataset.itemLimit;
    var limit = copyObject(state.item[name]);
    limit[input.dataset.limitPart] = input.dataset.limitPart === "value" ? toInteger(input.value) : input.value;
    state.item[name] = limit;
    markDirty();
  }

  // Bad JSON is left in the field with the reason under it; the item keeps its last good list.
  function onMaterialsInput() {
    markDirty();
    var parsed;
    try {
      parsed = JSON.parse(ui.itemMaterials.value);
    } catch (e) {
      showMaterialsError(text("invalidJson", {error: e.message}));
      return;
    }
    if (!Array.isArray(parsed)) {
      showMaterialsError(text("materialsNotList"));
      return;
    }
    showMaterialsError(null);
    if (state.item) { state.item.materials = parsed; }
  }

  function onItemNoneChanged() {
    if (ui.itemNone.checked) {
      state.setAsideItem = state.item;
      state.item = null;
    } else {
      state.item = state.setAsideItem || newItem();
      state.setAsideItem = null;
    }
    renderItem(true);
    markDirty();
  }

  function wireItem() {
    root.querySelectorAll("[data-item-field]").forEach(function (input) {
      input.addEventListener(input.tagName === "SELECT" ? "change" : "input", onItemFieldInput);
    });
    root.querySelectorAll("[data-item-limit]").forEach(function (input) {
      input.addEventListener(input.tagName === "SELECT" ? "change" : "input", onItemLimitInput);
    });
    ui.itemMaterials.addEventListener("input", onMaterialsInput);
    ui.itemNone.addEventListener("change", onItemNoneChanged);
  }

  // ---------------------------------------------------------------- form editor

  function formModal() {
    if (window.bootstrap && window.bootstrap.Modal) {
      return window.bootstrap.Modal.getOrCreateInstance(ui.formEditor);
    }
    // Without Bootstrap's script the dialog is simply shown in place.
    return {
      show: function () { ui.formEditor.classList.add("show", "d-block"); },
      hide: function () { ui.formEditor.classList.remove("show", "d-block"); }
    };
  }

  function setFormMessage(message, kind) {
    ui.formMessage.textContent = message || "";
    ui.formMessage.className = "me-auto small" + (message ? " text-" + (kind || "danger") : "");
  }

  function formUrl(key) {
    return root.dataset.formUrl.replace("__KEY__", encodeURIComponent(key));
  }

  // Resolves with the schema to edit: the draft's copy, the deployed one, a new one for an
  // unknown key, or null when the form could not be fetched (nothing to apply then).
  function loadFormSchema(key) {
    if (hasOwn(state.forms, key)) { return Promise.resolve(state.forms[key]); }
    return request("GET", formUrl(key)).then(function (response) {
      if (response.ok && response.data) { return response.data.schema; }
      if (response.status === 404) {
        setFormMessage(text("formNotFound", {key: key}), "muted");
        return newFormSchema(key);
      }
      setFormMessage(text("formLoadFailed") + " " + requestFailedText(response));
      return null;
    }, function (error) {
      setFormMessage(failureText(error));
      return null;
    });
  }

  function openFormEditor(key) {
    if (!key) { return; }
    formEditor.key = key;
    formEditor.loaded = false;
    ui.formKey.textContent = key;
    ui.formJson.value = "";
    ui.formPreview.innerHTML = "";
    ui.applyForm.disabled = true;
    setFormMessage("");
    formModal().show();
    loadFormSchema(key).then(function (schema) {
      if (formEditor.key !== key || schema === null) { return; }
      ui.formJson.value = JSON.stringify(schema, null, 2);
      formEditor.loaded = true;
      ui.applyForm.disabled = false;
      runPreview();
    });
  }

  function schedulePreview() {
    window.clearTimeout(formEditor.previewTimer);
    formEditor.previewTimer = window.setTimeout(runPreview, PREVIEW_DELAY_MS);
  }

  // Only the answer to the latest request is shown; slower earlier answers are dropped.
  function runPreview() {
    window.clearTimeout(formEditor.previewTimer);
    formEditor.previewSeq += 1;
    var seq = formEditor.previewSeq;
    ui.formPreview.setAttribute("aria-busy", "true");
    request("POST", root.dataset.previewUrl, {schema: ui.formJson.value}).then(function (response) {
      if (seq !== formEditor.previewSeq) { return; }
      ui.formPreview.removeAttribute("aria-busy");
      if (response.status === 200 || response.status === 422) {
        // Server-rendered and escaped there.
        ui.formPreview.innerHTML = response.body;
        ui.formPreview.dataset.status = String(response.status);
      } else {
        ui.formPreview.textContent = text("previewFailed") + " " + requestFailedText(response);
        ui.formPreview.dataset.status = "failed";
      }
      ui.formPreview.dataset.seq = String(seq);
    }, function () {
      if (seq !== formEditor.previewSeq) { return; }
      ui.formPreview.removeAttribute("aria-busy");
      ui.formPreview.textContent = text("networkError");
      ui.formPreview.dataset.status = "failed";
    });
  }

  function applyForm() {
    if (!formEditor.key || !formEditor.loaded) { return; }
    var schema;
    try {
      schema = JSON.parse(ui.formJson.value);
    } catch (e) {
      setFormMessage(text("invalidJson", {error: e.message}));
      return;
    }
    if (schema === null || typeof schema !== "object" || Array.isArray(schema)) {
      setFormMessage(text("formNotObject"));
      return;
    }
    state.forms[formEditor.key] = schema;
    markDirty();
    formModal().hide();
    renderPanel();
    refreshIntakeFormOptions();
    showMessage("info", text("formApplied", {key: formEditor.key}));
  }

  function wireFormEditor() {
    ui.formJson.addEventListener("input", schedulePreview);
    ui.applyForm.addEventListener("click", applyForm);
    ui.formEditor.addEventListener("hidden.bs.modal", function () {
      window.clearTimeout(formEditor.previewTimer);
      formEditor.previewSeq += 1;
      formEditor.key = null;
    });
  }

  // ---------------------------------------------------------------- draft: load, save, validate, deploy

  function exportXml() {
    return modeler.saveXML({format: true}).then(function (result) { return result.xml; });
  }

  // Rejects with NOT_SENT (the user told why) when the draft cannot be sent as it stands.
  function draftBody() {
    commitPanelEdits();
    if (state.item && state.materialsError) {
      showMessage("danger", text("fixMaterials"));
      ui.itemMaterials.focus();
      return Promise.reject(NOT_SENT);
    }
    return exportXml().then(function (xml) {
      return {revision: state.revision, bpmn: xml, forms: state.forms, item: state.item};
    });
  }

  function showConflict(data) {
    state.conflict = data || {};
    ui.conflictText.textContent = (state.conflict.error ? state.conflict.error + " " : "") + text("conflict", {
      revision: state.conflict.revision, user: state.conflict.updated_by || "?", time: formatTime(state.conflict.updated_at)
    });
    ui.conflict.hidden = false;
  }

  function hideConflict() {
    state.conflict = null;
    ui.conflict.hidden = true;
  }

  function onSaved(data, changeCountAtSave) {
    state.revision = data.revision;
    state.updatedAt = data.saved_at || null;
    state.updatedBy = null;
    markSaved(changeCountAtSave);
    hideConflict();
    showMessage("success", text("saved", {revision: data.revision}));
    showProblems(data.problems || []);
  }

  function handleSaveResponse(response, changeCountAtSave) {
    var data = response.data || {};
    if (response.status === 200 && response.data) {
      onSaved(data, changeCountAtSave);
      return true;
    }
    if (response.status === 409) {
      clearMessage();
      showConflict(data);
      return false;
    }
    if (response.status === 422) {
      showMessage("danger", text("saveFailed", {error: data.error || ""}));
      showProblems(data.problems || []);
      return false;
    }
    showMessage("danger", requestFailedText(response));
    return false;
  }

  function requestFailed(error) {
    setBusy(null);
    if (error !== NOT_SENT) { showMessage("danger", failureText(error)); }
    return false;
  }

  // Resolves true when the draft was saved. Busy is set before the export, so a second click
  // cannot send a second save of the same revision.
  function saveDraft() {
    if (state.busy || !state.ready) { return Promise.resolve(false); }
    setBusy(text("statusSaving"));
    var changeCountAtSave;
    return draftBody().then(function (body) {
      changeCountAtSave = state.changeCount;
      return request("POST", root.dataset.saveUrl, body);
    }).then(function (response) {
      setBusy(null);
      return handleSaveResponse(response, changeCountAtSave);
    }, requestFailed);
  }

  function handleValidateResponse(response) {
    var data = response.data || {};
    if (response.status === 200 && response.data) {
      clearMessage();
      showProblems(data.problems || [], text("validateOk"));
      ui.problems.dataset.ok = String(!!data.ok);
      return !!data.ok;
    }
    showMessage("danger", data.error || requestFailedText(response));
    if (data.problems) { showProblems(data.problems); }
    return false;
  }

  function validateDraft() {
    if (state.busy || !state.ready) { return Promise.resolve(false); }
    setBusy(text("statusValidating"));
    return draftBody().then(function (body) {
      return request("POST", root.dataset.validateUrl, body);
    }).then(function (response) {
      setBusy(null);
      return handleValidateResponse(response);
    }, requestFailed);
  }

  function showDeployResult(kind, message, link) {
    ui.deployResult.textContent = "";
    var box = document.createElement("div");
    box.className = "alert alert-" + kind + " py-2 mb-0";
    box.dataset.outcome = kind === "success" ? "deployed" : "failed";
    box.appendChild(document.createTextNode(message));
    if (link) {
      var anchor = document.createElement("a");
      anchor.className = "alert-link ms-2";
      anchor.href = link;
      anchor.textContent = text("openProcess");
      box.appendChild(anchor);
    }
    ui.deployResult.appendChild(box);
  }

  function handleDeployResponse(response) {
    var data = response.data || {};
    if (response.status === 201) {
      showDeployResult("success", text("deployed", {version: data.version}), data.process_url);
      ui.deployResult.dataset.version = String(data.version);
      showProblems(data.problems || []);
      return true;
    }
    if (response.status === 422 || response.status === 409) {
      showDeployResult("danger", text("deployFailed", {error: data.error || ""}));
      if (data.problems) { showProblems(data.problems); }
      return false;
    }
    showDeployResult("danger", requestFailedText(response));
    return false;
  }

  function postDeploy() {
    setBusy(text("statusDeploying"));
    return request("POST", root.dataset.deployUrl, {revision: state.revision}).then(function (response) {
      setBusy(null);
      return handleDeployResponse(response);
    }, function (error) {
      setBusy(null);
      showDeployResult("danger", failureText(error));
      return false;
    });
  }

  // Deploy publishes a saved revision, so unsaved work is saved first.
  function deploy() {
    if (state.busy || !state.ready) { return Promise.resolve(false); }
    commitPanelEdits();
    ui.deployResult.textContent = "";
    var saved = state.dirty || !state.revision ? saveDraft() : Promise.resolve(true);
    return saved.then(function (ok) { return ok ? postDeploy() : false; });
  }

  function downloadBpmn() {
    if (!state.ready) { return; }
    commitPanelEdits();
    exportXml().then(function (xml) {
      var url = URL.createObjectURL(new Blob([xml], {type: "application/xml"}));
      var anchor = document.createElement("a");
      anchor.href = url;
      anchor.download = state.processId + ".bpmn";
      document.body.appendChild(anchor);
      anchor.click();
      anchor.remove();
      window.setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
    });
  }

  // SpiffWorkflow writes variable names (not element ids) into loopDataInputRef/OutputRef; the
  // BPMN reader cannot resolve them and would drop them on export. A detached placeholder with
  // that name as id keeps the text. Returns the import warnings this does not repair.
  function keepUnresolvedReferences(warnings) {
    var moddle = modeler.get("moddle");
    return warnings.filter(function (warning) {
      if (!warning || !warning.element || !warning.property || !/^unresolved reference/.test(warning.message || "")) {
        return true;
      }
      var descriptor = warning.element.$descriptor.propertiesByName[warning.property];
      if (!descriptor || !descriptor.isReference || descriptor.isMany) { return true; }
      try {
        warning.element.set(warning.property, moddle.create(descriptor.type, {id: warning.value}));
        return false;
      } catch (e) {
        return true;
      }
    });
  }

  function showImportWarnings(warnings) {
    var list = ui.importWarnings.querySelector("ul");
    list.textContent = "";
    warnings.forEach(function (warning) {
      var item = document.createElement("li");
      item.textContent = (warning && warning.message) || String(warning);
      list.appendChild(item);
    });
    ui.importWarnings.hidden = !warnings.length;
  }

  // Fitting centres the diagram, which can leave its left edge under the palette.
  function fitDiagram() {
    var canvas = modeler.get("canvas");
    canvas.zoom("fit-viewport", "auto");
    var palette = ui.canvas.querySelector(".djs-palette");
    var drawn = canvas.getActiveLayer && canvas.getActiveLayer();
    if (!palette || !drawn || typeof drawn.getBoundingClientRect !== "function") { return; }
    var overlap = palette.getBoundingClientRect().right + 8 - drawn.getBoundingClientRect().left;
    if (overlap > 0) {
      canvas.zoom(canvas.zoom() * 0.9, "auto");
      overlap = palette.getBoundingClientRect().right + 8 - drawn.getBoundingClientRect().left;
      if (overlap > 0) { canvas.scroll({dx: overlap, dy: 0}); }
    }
  }

  function importDiagram(xml) {
    var imported = xml ? modeler.importXML(xml) : modeler.createDiagram();
    return imported.then(function (result) {
      showImportWarnings(keepUnresolvedReferences((result && result.warnings) || []));
      fitDiagram();
    });
  }

  function applyDraft(draft) {
    state.revision = draft.revision || 0;
    state.updatedBy = draft.updated_by || null;
    state.updatedAt = draft.updated_at || null;
    state.forms = draft.forms || {};
    state.item = draft.item || null;
    state.setAsideItem = null;
    state.departments = draft.departments || [];
    state.formKeys = draft.form_keys || [];
    state.choices = draft.choices || {};
    renderItem();
  }

  function setReady(ready) {
    state.ready = ready;
    ui.canvas.dataset.ready = ready ? "true" : "false";
    updateActionButtons();
  }

  function showLoadError(error) {
    setReady(false);
    ui.canvas.dataset.ready = "error";
    showMessage("danger", ui.canvas.dataset.errorMessage + (error ? " " + failureText(error) : ""));
    if (window.console && error) { window.console.warn("designer:", error); }
  }

  function loadDraft() {
    setReady(false);
    return request("GET", root.dataset.draftUrl).then(function (response) {
      if (!response.ok || !response.data) { throw new Error(requestFailedText(response)); }
      applyDraft(response.data);
      return importDiagram(response.data.bpmn);
    }).then(function () {
      state.changeCount = 0;
      state.dirty = false;
      state.panelElement = null;
      hideConflict();
      showProblems(null);
      setReady(true);
      renderStatus();
      renderPanel();
    });
  }

  function reloadOtherVersion() {
    if (!window.confirm(text("confirmReload"))) { return; }
    clearMessage();
    ui.deployResult.textContent = "";
    loadDraft().catch(showLoadError);
  }

  // An explicit choice after a conflict: save again against the revision that is now current.
  function overwriteOtherVersion() {
    if (!state.conflict || !window.confirm(text("confirmOverwrite"))) { return; }
    state.revision = state.conflict.revision;
    saveDraft();
  }

  // ---------------------------------------------------------------- wiring

  var ACTIONS = {save: saveDraft, validate: validateDraft, deploy: deploy, download: downloadBpmn};

  function wireToolbar() {
    root.querySelectorAll("[data-designer-action]").forEach(function (button) {
      button.addEventListener("click", function () { ACTIONS[button.getAttribute("data-designer-action")](); });
    });
    byTestId("conflict-reload").addEventListener("click", reloadOtherVersion);
    byTestId("conflict-overwrite").addEventListener("click", overwriteOtherVersion);
    document.addEventListener("keydown", function (event) {
      if ((event.ctrlKey || event.metaKey) && !event.altKey && (event.key === "s" || event.key === "S")) {
        event.preventDefault();
        saveDraft();
      }
    });
    window.addEventListener("beforeunload", function (event) {
      if (!state.dirty) { return undefined; }
      event.preventDefault();
      event.returnValue = "";
      return "";
    });
  }

  function wireModeler() {
    var eventBus = modeler.get("eventBus");
    eventBus.on("selection.changed", renderPanel);
    eventBus.on("elements.changed", function () {
      if (state.ready) { renderPanel(); }
    });
    eventBus.on("commandStack.changed", function (event) {
      if (state.ready && event.trigger !== "clear") { markDirty(); }
    });
  }

  function cacheUi() {
    ui.canvas = byTestId("modeler");
    ui.status = byTestId("designer-status");
    ui.message = byTestId("designer-message");
    ui.conflict = byTestId("designer-conflict");
    ui.conflictText = ui.conflict.querySelector("[data-conflict-text]");
    ui.importWarnings = byTestId("import-warnings");
    ui.deployResult = byTestId("deploy-result");
    ui.problems = byTestId("problems");
    ui.problemsSummary = root.querySelector("[data-problems-summary]");
    ui.problemsSummary.dataset.initial = ui.problemsSummary.textContent;
    ui.panel = byTestId("properties-panel");
    ui.elementType = ui.panel.querySelector("[data-element-type]");
    ui.elementId = ui.panel.querySelector("[data-element-id]");
    ui.namePart = ui.panel.querySelector("[data-panel-part=name]");
    ui.userTaskPart = ui.panel.querySelector("[data-panel-part=user-task]");
    ui.taskPart = ui.panel.querySelector("[data-panel-part=task]");
    ui.lanePart = ui.panel.querySelector("[data-panel-part=lane]");
    ui.propName = byTestId("prop-name");
    ui.propForm = byTestId("prop-form");
    ui.propStepLimit = byTestId("prop-step-limit");
    ui.propDepartment = byTestId("prop-department");
    ui.taskDepartment = byTestId("prop-task-department");
    ui.editForm = byTestId("edit-form");
    ui.newForm = byTestId("new-form");
    ui.itemNone = byTestId("item-none");
    ui.itemFields = root.querySelector("[data-item-fields]");
    ui.itemIntakeForm = byTestId("item-intake-form");
    ui.itemMaterials = byTestId("item-materials");
    ui.itemMaterialsError = byTestId("item-materials-error");
    ui.formEditor = byTestId("form-editor");
    ui.formKey = ui.formEditor.querySelector("[data-form-key]");
    ui.formJson = byTestId("form-json");
    ui.formPreview = byTestId("form-preview");
    ui.formMessage = byTestId("form-editor-message");
    ui.applyForm = byTestId("apply-form");
  }

  function expose() {
    window.designer = {
      modeler: modeler,
      state: state,
      selectElement: selectElement,
      exportXml: exportXml,
      save: saveDraft,
      validate: validateDraft,
      deploy: deploy
    };
  }

  function start() {
    root = document.getElementById("designer");
    if (!root) { return; }
    texts = readTexts();
    state.processId = root.dataset.processId;
    cacheUi();
    updateActionButtons();
    wireToolbar();
    wirePanel();
    wireItem();
    wireFormEditor();
    if (typeof window.BpmnJS !== "function" || typeof window.fetch !== "function") {
      showLoadError(new Error("bpmn-js is not loaded"));
      return;
    }
    request("GET", root.dataset.moddleUrl).then(function (response) {
      if (!response.ok) { throw new Error(requestFailedText(response)); }
      var descriptor = response.data || JSON.parse(response.body);
      modeler = new window.BpmnJS({container: ui.canvas, moddleExtensions: {spiffworkflow: descriptor}});
      wireModeler();
      expose();
      return loadDraft();
    }).catch(showLoadError);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
