<#import "template.ftl" as layout>
<#-- Tapprove push step: shows the presence code and waits for the phone. The script below asks
     the extension's wake-up endpoint (which long-polls the service) and submits the form once
     the service has decided; without JavaScript the "I answered on my phone" button does it. -->
<@layout.registrationLayout displayMessage=true; section>
    <#if section = "header">
        ${msg("tapproveWaitTitle")}
    <#elseif section = "form">
        <div id="tapprove-wait" data-wait-url="${tapproveWaitUrl}" data-expires-at="${tapproveExpiresAt?c}">
            <#if tapprovePresence == "choose">
                <p id="tapprove-instruction">${msg("tapproveChooseInstruction")}</p>
                <p id="presence-code" class="tapprove-code" style="font-size:3rem;font-weight:700;letter-spacing:.2em;text-align:center;margin:1rem 0">${tapproveCode}</p>
            <#elseif tapprovePresence == "entry">
                <p id="tapprove-instruction">${msg("tapproveEntryInstruction")}</p>
                <p id="presence-code" class="tapprove-code" style="font-size:3rem;font-weight:700;letter-spacing:.2em;text-align:center;margin:1rem 0">${tapproveCode}</p>
            <#else>
                <p id="tapprove-instruction">${msg("tapproveApproveInstruction")}</p>
            </#if>
            <p id="tapprove-status" aria-live="polite">${msg("tapproveWaiting")}</p>
        </div>
        <form id="tapprove-form" class="${properties.kcFormClass!}" action="${url.loginAction}" method="post">
            <div class="${properties.kcFormGroupClass!}">
                <button id="tapprove-answered" class="${properties.kcButtonPrimaryClass!} ${properties.kcButtonBlockClass!}" type="submit" name="answered" value="1">${msg("tapproveAnswered")}</button>
            </div>
            <div class="${properties.kcFormGroupClass!}">
                <button id="tapprove-cancel" class="${properties.kcButtonSecondaryClass!} ${properties.kcButtonBlockClass!}" type="submit" name="cancel" value="1">${msg("doCancel")}</button>
            </div>
        </form>
        <script>
        (function () {
            var box = document.getElementById('tapprove-wait');
            var form = document.getElementById('tapprove-form');
            var url = box.getAttribute('data-wait-url');
            var expiresAt = Number(box.getAttribute('data-expires-at')) * 1000;
            var delay = 1000;
            function submit() {
                var done = document.createElement('input');
                done.type = 'hidden'; done.name = 'answered'; done.value = '1';
                form.appendChild(done);
                form.submit();
            }
            function ask() {
                fetch(url, { credentials: 'same-origin', cache: 'no-store' })
                    .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
                    .then(function (body) {
                        delay = 1000;
                        if (body.done) { submit(); } else { ask(); }
                    })
                    .catch(function () {
                        // Service or network trouble: back off (max 15 s); past expiry let the
                        // server say so.
                        if (expiresAt && Date.now() > expiresAt + 2000) { submit(); return; }
                        setTimeout(ask, delay);
                        delay = Math.min(delay * 2, 15000);
                    });
            }
            ask();
        })();
        </script>
    </#if>
</@layout.registrationLayout>
