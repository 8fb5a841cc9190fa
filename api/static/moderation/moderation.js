/*
 * Keyboard shortcuts for the moderation pages; everything also works without this file.
 *
 * Queue: j / k select the next / previous comment (focus moves to it, aria-current marks
 * it), a / r / s approve, reject or mark it as spam by submitting its own form (on the
 * spam tab "a" means "not spam"), x selects it for a bulk action, o or Enter opens it,
 * ? shows the list of shortcuts. Comment page: a / r / s decide, u goes back to the queue.
 * Shortcuts never fire while typing in a field or with Ctrl, Alt or Meta held.
 */
(function () {
  "use strict";

  var submitting = false;

  function isTyping(target) {
    if (!target || !target.tagName) {
      return false;
    }
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  function queueItems() {
    return Array.prototype.slice.call(document.querySelectorAll("#queue > li.item"));
  }

  function currentItem() {
    return document.querySelector('#queue > li.item[aria-current="true"]') || queueItems()[0] || null;
  }

  function selectItem(item) {
    queueItems().forEach(function (other) {
      other.removeAttribute("aria-current");
    });
    item.setAttribute("aria-current", "true");
    item.focus();
    item.scrollIntoView({ block: "nearest" });
  }

  function move(delta) {
    var items = queueItems();
    if (!items.length) {
      return;
    }
    var index = items.indexOf(currentItem());
    var next = Math.min(Math.max(index + delta, 0), items.length - 1);
    selectItem(items[next]);
  }

  function decide(scope, action) {
    if (!scope || submitting) {
      return;
    }
    var form = scope.querySelector("form[data-decide]");
    if (!form) {
      return;
    }
    var button = form.querySelector('button[data-action="' + action + '"]');
    if (!button && action === "approve") {
      button = form.querySelector('button[data-action="ham"]');
    }
    if (!button) {
      return;
    }
    submitting = true; // one decision per keystroke, even if the key repeats
    if (typeof form.requestSubmit === "function") {
      form.requestSubmit(button);
    } else {
      button.click();
    }
  }

  function updateBulkCount() {
    var counter = document.getElementById("bulk-count");
    if (!counter) {
      return;
    }
    var selected = document.querySelectorAll("#queue input.select:checked").length;
    counter.textContent = selected ? selected + " selected" : "";
  }

  function toggleSelection(item) {
    var box = item && item.querySelector("input.select");
    if (box) {
      box.checked = !box.checked;
      updateBulkCount();
    }
  }

  function openItem(item) {
    var link = item && item.querySelector("a[data-open]");
    if (link) {
      window.location.assign(link.href);
    }
  }

  function toggleHelp() {
    var dialog = document.getElementById("shortcuts");
    if (!dialog || typeof dialog.showModal !== "function") {
      return;
    }
    if (dialog.open) {
      dialog.close();
    } else {
      dialog.showModal();
    }
  }

  function onQueueKey(event) {
    var item = currentItem();
    switch (event.key) {
      case "j":
        move(1);
        return true;
      case "k":
        move(-1);
        return true;
      case "a":
        decide(item, "approve");
        return true;
      case "r":
        decide(item, "reject");
        return true;
      case "s":
        decide(item, "spam");
        return true;
      case "x":
        toggleSelection(item);
        return true;
      case "o":
        openItem(item);
        return true;
      case "Enter":
        if (event.target && event.target.classList && event.target.classList.contains("item")) {
          openItem(event.target);
          return true;
        }
        return false;
      default:
        return false;
    }
  }

  function onCommentKey(event) {
    var section = document.querySelector(".decide-section");
    switch (event.key) {
      case "a":
        decide(section, "approve");
        return true;
      case "r":
        decide(section, "reject");
        return true;
      case "s":
        decide(section, "spam");
        return true;
      case "u":
        var back = document.getElementById("back-to-queue");
        if (back) {
          window.location.assign(back.href);
        }
        return true;
      default:
        return false;
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (isTyping(event.target)) {
      return;
    }
    var kind = document.body.getAttribute("data-page");
    if (event.key === "?" && kind === "queue") {
      toggleHelp();
      event.preventDefault();
      return;
    }
    var dialog = document.getElementById("shortcuts");
    if (dialog && dialog.open) {
      return;
    }
    var handled = false;
    if (kind === "queue") {
      handled = onQueueKey(event);
    } else if (kind === "comment") {
      handled = onCommentKey(event);
    }
    if (handled) {
      event.preventDefault();
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target && event.target.classList && event.target.classList.contains("select")) {
      updateBulkCount();
    }
  });

  // Coming back through the browser's history restores the page as it was: allow
  // decisions again.
  window.addEventListener("pageshow", function () {
    submitting = false;
  });

  function start() {
    if (document.body.getAttribute("data-page") !== "queue") {
      return;
    }
    var item = currentItem();
    // After a decision (or a link to one item) the selected item gets the focus, so
    // the next keystroke acts on it.
    if (item && /[?&](focus|done)=/.test(window.location.search)) {
      selectItem(item);
    } else if (item) {
      item.setAttribute("aria-current", "true");
    }
    updateBulkCount();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
