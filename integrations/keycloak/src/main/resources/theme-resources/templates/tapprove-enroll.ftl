<#import "template.ftl" as layout>
<#-- Tapprove enrollment: pairing code, enrollment link and QR code; moves on by itself once the
     trust webhook has accepted the code (the script asks the extension every 2 s). -->
<@layout.registrationLayout displayMessage=true; section>
    <#if section = "header">
        ${msg("tapproveEnrollTitle")}
    <#elseif section = "form">
        <div id="tapprove-enroll" data-status-url="${tapproveStatusUrl}">
            <p>${msg("tapproveEnrollInstruction", tapproveMinutes)}</p>
            <dl>
                <dt>${msg("tapproveEnrollUser")}</dt>
                <dd id="tapprove-user" style="font-weight:700">${tapproveUser}</dd>
                <dt>${msg("tapproveEnrollCode")}</dt>
                <dd id="pairing-code" style="font-size:2rem;font-weight:700;letter-spacing:.15em">${tapprovePairingCode}</dd>
            </dl>
            <#if tapproveQr?has_content>
                <p><img id="tapprove-qr" src="${tapproveQr}" alt="${msg('tapproveEnrollQrAlt')}" width="200" height="200"/></p>
            </#if>
            <p>${msg("tapproveEnrollLink")} <a id="enrollment-uri" style="word-break:break-all" href="${tapproveEnrollmentUri}">${tapproveEnrollmentUri}</a></p>
            <p id="tapprove-enroll-status" aria-live="polite">${msg("tapproveEnrollWaiting")}</p>
        </div>
        <form id="tapprove-enroll-form" class="${properties.kcFormClass!}" action="${url.loginAction}" method="post">
            <div class="${properties.kcFormGroupClass!}">
                <button id="tapprove-paired" class="${properties.kcButtonPrimaryClass!} ${properties.kcButtonBlockClass!}" type="submit" name="paired" value="1">${msg("tapproveEnrollDone")}</button>
            </div>
            <div class="${properties.kcFormGroupClass!}">
                <button id="tapprove-new-code" class="${properties.kcButtonSecondaryClass!} ${properties.kcButtonBlockClass!}" type="submit" name="newCode" value="1">${msg("tapproveEnrollNewCode")}</button>
            </div>
        </form>
        <script>
        (function () {
            var box = document.getElementById('tapprove-enroll');
            var form = document.getElementById('tapprove-enroll-form');
            var url = box.getAttribute('data-status-url');
            function ask() {
                fetch(url, { credentials: 'same-origin', cache: 'no-store' })
                    .then(function (r) { return r.ok ? r.json() : { paired: false, gone: r.status === 404 }; })
                    .then(function (body) {
                        if (body.paired) {
                            var done = document.createElement('input');
                            done.type = 'hidden'; done.name = 'paired'; done.value = '1';
                            form.appendChild(done);
                            form.submit();
                        } else if (!body.gone) {
                            setTimeout(ask, 2000);
                        }
                    })
                    .catch(function () { setTimeout(ask, 5000); });
            }
            ask();
        })();
        </script>
    </#if>
</@layout.registrationLayout>
