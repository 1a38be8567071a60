Attribute VB_Name = "sheetsync_udfs"
' sheetsync 的 Excel 函数(xlwings 用户定义函数)的 VBA 包装,与 sheetsync/udfs.py 一一对应。
' 写法与 xlwings 自动生成的包装相同;tests/test_macros_sync.py 核对函数名和参数与 udfs.py 一致。
' 需要:本机已安装 Python、sheetsync 和 xlwings,本工作簿已引用 xlwings(工具 > 引用 > xlwings)。
' 不要再用 xlwings 功能区的 Import Functions 导入同一批函数,否则会出现“名称重复”的编译错误。
' 本文件为 GBK 编码、CRLF 换行:VBA 编辑器按简体中文 Windows 的 ANSI 代码页读取 .bas 文件。
' 由 python tests/test_macros_sync.py 生成,请勿手改。
#Const App = "Microsoft Excel" 'Adjust when using outside of Excel

Private Const UDF_CATEGORY As String = "清洁生产"

Function CP_USCC_OK(code)
    #If App = "Microsoft Excel" Then
        If TypeOf Application.Caller Is Range Then On Error GoTo failed
        CP_USCC_OK = XLPy.CallUDF("sheetsync.udfs", "CP_USCC_OK", Array(code), ThisWorkbook, Application.Caller)
        Exit Function
    #Else
        CP_USCC_OK = XLPy.CallUDF("sheetsync.udfs", "CP_USCC_OK", Array(code))
        Exit Function
    #End If
failed:
    CP_USCC_OK = Err.Description
End Function

Function CP_STAGE(headers, row, as_of, Optional profile)
    #If App = "Microsoft Excel" Then
        If TypeOf Application.Caller Is Range Then On Error GoTo failed
        CP_STAGE = XLPy.CallUDF("sheetsync.udfs", "CP_STAGE", Array(headers, row, as_of, profile), ThisWorkbook, Application.Caller)
        Exit Function
    #Else
        CP_STAGE = XLPy.CallUDF("sheetsync.udfs", "CP_STAGE", Array(headers, row, as_of, profile))
        Exit Function
    #End If
failed:
    CP_STAGE = Err.Description
End Function

Function CP_OVERDUE(headers, row, as_of, Optional enterprises, Optional profile)
    #If App = "Microsoft Excel" Then
        If TypeOf Application.Caller Is Range Then On Error GoTo failed
        CP_OVERDUE = XLPy.CallUDF("sheetsync.udfs", "CP_OVERDUE", Array(headers, row, as_of, enterprises, profile), ThisWorkbook, Application.Caller)
        Exit Function
    #Else
        CP_OVERDUE = XLPy.CallUDF("sheetsync.udfs", "CP_OVERDUE", Array(headers, row, as_of, enterprises, profile))
        Exit Function
    #End If
failed:
    CP_OVERDUE = Err.Description
End Function

Function CP_OVERDUE_REASON(headers, row, as_of, Optional enterprises, Optional profile)
    #If App = "Microsoft Excel" Then
        If TypeOf Application.Caller Is Range Then On Error GoTo failed
        CP_OVERDUE_REASON = XLPy.CallUDF("sheetsync.udfs", "CP_OVERDUE_REASON", Array(headers, row, as_of, enterprises, profile), ThisWorkbook, Application.Caller)
        Exit Function
    #Else
        CP_OVERDUE_REASON = XLPy.CallUDF("sheetsync.udfs", "CP_OVERDUE_REASON", Array(headers, row, as_of, enterprises, profile))
        Exit Function
    #End If
failed:
    CP_OVERDUE_REASON = Err.Description
End Function

Function CP_CERT_STATUS(cert_type, issued, valid_until, as_of, Optional profile)
    #If App = "Microsoft Excel" Then
        If TypeOf Application.Caller Is Range Then On Error GoTo failed
        CP_CERT_STATUS = XLPy.CallUDF("sheetsync.udfs", "CP_CERT_STATUS", Array(cert_type, issued, valid_until, as_of, profile), ThisWorkbook, Application.Caller)
        Exit Function
    #Else
        CP_CERT_STATUS = XLPy.CallUDF("sheetsync.udfs", "CP_CERT_STATUS", Array(cert_type, issued, valid_until, as_of, profile))
        Exit Function
    #End If
failed:
    CP_CERT_STATUS = Err.Description
End Function

Function CP_PROGRESS(metric, scope, as_of, profile, ParamArray tables())
    Dim argsArray() As Variant
    argsArray = Array(metric, scope, as_of, profile)
    ReDim Preserve argsArray(0 to UBound(tables) - LBound(tables) + 4)
    For k = LBound(tables) To UBound(tables)
    argsArray(4 + k - LBound(tables)) = tables(k)
    Next k
    #If App = "Microsoft Excel" Then
        If TypeOf Application.Caller Is Range Then On Error GoTo failed
        CP_PROGRESS = XLPy.CallUDF("sheetsync.udfs", "CP_PROGRESS", argsArray, ThisWorkbook, Application.Caller)
        Exit Function
    #Else
        CP_PROGRESS = XLPy.CallUDF("sheetsync.udfs", "CP_PROGRESS", argsArray)
        Exit Function
    #End If
failed:
    CP_PROGRESS = Err.Description
End Function

Function CP_EXPERT_PANEL(experts, enterprise_code, enterprise_industry, purpose, seed, as_of, Optional size, Optional enterprise_name, Optional agency, Optional profile)
    #If App = "Microsoft Excel" Then
        If TypeOf Application.Caller Is Range Then On Error GoTo failed
        CP_EXPERT_PANEL = XLPy.CallUDF("sheetsync.udfs", "CP_EXPERT_PANEL", Array(experts, enterprise_code, enterprise_industry, purpose, seed, as_of, size, enterprise_name, agency, profile), ThisWorkbook, Application.Caller)
        Exit Function
    #Else
        CP_EXPERT_PANEL = XLPy.CallUDF("sheetsync.udfs", "CP_EXPERT_PANEL", Array(experts, enterprise_code, enterprise_industry, purpose, seed, as_of, size, enterprise_name, agency, profile))
        Exit Function
    #End If
failed:
    CP_EXPERT_PANEL = Err.Description
End Function

' 在“插入函数”向导中显示中文说明和参数说明(Excel 2010 及以上)。
' 导入本模块后运行一次(Alt+F8 > RegisterSheetsyncFunctions),说明随工作簿保存。
Sub RegisterSheetsyncFunctions()
    Describe "CP_USCC_OK", _
        "统一社会信用代码是否有效(18位,按 GB 32100-2015 核对校验位)。与 sheetsync 校验的规则相同;空单元格为 FALSE。", _
        Array("统一社会信用代码,可含空格、小写或全角字符")
    Describe "CP_STAGE", _
        "审核当前所处阶段,如“提交报告”“方案实施(评估良好)”“发证(参与清洁生产行动证书)”。按基准日期判断,空行返回空白。", _
        Array("“审核进度”表的表头行,如 $A$1:$O$1(加 $ 便于下拉填充)", _
              "要判断的那一条审核记录所在的行,如 A2:O2,列与表头对应", _
              "基准日期,通常为 TODAY();只计这一天及以前发生的事", _
              "规则方案名称(如 beijing-2014)或 TOML 文件路径;省略为 guangzhou-2013")
    Describe "CP_OVERDUE", _
        "审核逾期天数:已过规则方案期限仍未完成的阶段中,逾期最久的天数;未逾期为 0,空行返回空白。原因见 CP_OVERDUE_REASON。", _
        Array("“审核进度”表的表头行,如 $A$1:$O$1(加 $ 便于下拉填充)", _
              "要判断的那一条审核记录所在的行,如 A2:O2,列与表头对应", _
              "基准日期,通常为 TODAY();只计这一天及以前发生的事", _
              "可选:“企业名录”表(含表头),按信用代码查出该企业;强制审核的期限要用到列入名单日期", _
              "规则方案名称(如 beijing-2014)或 TOML 文件路径;省略为 guangzhou-2013")
    Describe "CP_OVERDUE_REASON", _
        "审核逾期的原因,如“已过2014年2月28日仍未启动审核”;多条用“;”分隔,未逾期返回空白。", _
        Array("“审核进度”表的表头行,如 $A$1:$O$1(加 $ 便于下拉填充)", _
              "要判断的那一条审核记录所在的行,如 A2:O2,列与表头对应", _
              "基准日期,通常为 TODAY();只计这一天及以前发生的事", _
              "可选:“企业名录”表(含表头),按信用代码查出该企业;强制审核的期限要用到列入名单日期", _
              "规则方案名称(如 beijing-2014)或 TOML 文件路径;省略为 guangzhou-2013")
    Describe "CP_CERT_STATUS", _
        "证书状态:有效、待换证(届满前规则方案规定的天数内)或已过期;尚未发证返回空白。", _
        Array("证书类型:参与清洁生产行动证书 或 清洁生产(优秀)企业", _
              "发证日期", _
              "证书有效期至;留空时按规则方案的有效期推算", _
              "基准日期,通常为 TODAY();只计这一天及以前发生的事", _
              "规则方案名称(如 beijing-2014)或 TOML 文件路径;省略为 guangzhou-2013")
    Describe "CP_PROGRESS", _
        "某项指标截至基准日期的完成数,与总台账的进度统计口径相同(每家企业只计一次)。", _
        Array("指标名称,如 启动审核企业数、技改项目数、年节能量;共17项,见填报说明", _
              "统计范围:留空为表中全部记录(全市);或填报单位名称(表中须有“填报单位”列)、行业领域名称", _
              "基准日期,通常为 TODAY();只计这一天及以前发生的事", _
              "规则方案名称或 TOML 文件路径;留空为默认方案", _
              "一张或多张表(各含表头):企业名录、审核进度、技改项目、培训活动、参训人员,按指标需要选")
    Describe "CP_EXPERT_PANEL", _
        "预演专家组抽取,返回表头及席位、专家编号、姓名、工作单位、专长,候补列在下方。不含以往抽取记录(冷却期、上次专家组回避),正式抽取请用“抽取专家”按钮。", _
        Array("“专家库”表(含表头)", _
              "被审核企业的统一社会信用代码", _
              "被审核企业的行业门类,如 C 或 C 制造业;工艺专家按此匹配", _
              "用途:评估 或 验收", _
              "随机种子(整数);同一种子总抽出同一组专家。超过15位的种子请写成文本", _
              "抽取日期", _
              "可选:专家组人数;省略按规则方案(3至7人,默认5人)", _
              "可选:被审核企业名称,用于回避其本单位专家", _
              "可选:承担审核的咨询机构名称,用于回避", _
              "规则方案名称(如 beijing-2014)或 TOML 文件路径;省略为 guangzhou-2013")
    MsgBox "已登记 7 个函数的说明,可在“插入函数”的“" & UDF_CATEGORY & "”类别中找到。", vbInformation, "sheetsync"
End Sub

Private Sub Describe(functionName As String, description As String, argumentDocs As Variant)
    Application.MacroOptions Macro:="'" & ThisWorkbook.Name & "'!" & functionName, _
        Description:=description, Category:=UDF_CATEGORY, ArgumentDescriptions:=argumentDocs
End Sub
