<#import "template.ftl" as layout>
<#-- The end of a Tapprove login that did not succeed: the message says what happened. -->
<@layout.registrationLayout displayMessage=false; section>
    <#if section = "header">
        ${msg("tapproveResultTitle")}
    <#elseif section = "form">
        <div id="tapprove-result" class="${properties.kcAlertClass!} pf-m-danger alert-error" role="alert">
            <span class="${properties.kcAlertTitleClass!}">${kcSanitize(message.summary)?no_esc}</span>
        </div>
        <div class="${properties.kcFormGroupClass!}">
            <a id="tapprove-restart" class="${properties.kcButtonPrimaryClass!} ${properties.kcButtonBlockClass!}" href="${url.loginRestartFlowUrl}">${msg("tapproveTryAgain")}</a>
        </div>
    </#if>
</@layout.registrationLayout>
