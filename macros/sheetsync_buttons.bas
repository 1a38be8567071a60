Attribute VB_Name = "sheetsync_buttons"
' sheetsync 按钮宏:校验本工作簿、提交到共享盘、刷新总台账、抽取专家。
' 宏对“当前活动的工作簿”操作,可放在填报工作簿(.xlsm)里,也可放在个人宏工作簿 PERSONAL.XLSB 里。
' 每个按钮都调用本机安装的 sheetsync 命令(pip install sheetsync),结果以中文提示框显示。
' 本文件为 GBK 编码、CRLF 换行:VBA 编辑器按简体中文 Windows 的 ANSI 代码页读取 .bas 文件。
Option Explicit

' 共享盘根目录(其下有 inbox\<填报单位>\、master\、register\)。
' 若工作簿中定义了名称 SHEETSYNC_DRIVE(公式 > 名称管理器,指向写着路径的单元格),以名称为准。
Public Const DRIVE_DEFAULT As String = "\\fileserver\qingjieshengchan"
Public Const DRIVE_NAME As String = "SHEETSYNC_DRIVE"
' sheetsync 命令。若提示找不到命令,改为完整路径,如:
' C:\Users\<用户名>\AppData\Local\Programs\Python\Python311\Scripts\sheetsync.exe
Public Const SHEETSYNC_EXE As String = "sheetsync"

Private Const TITLE As String = "sheetsync"
Private Const STAMP_SHEET As String = "填报信息"
Private Const STAMP_SUBMITTER As String = "填报单位"
Private Const MASTER_NAME As String = "总台账.xlsx"
Private Const EXIT_OK As Long = 0
Private Const EXIT_PROBLEMS As Long = 1
Private Const CMD_NOT_FOUND As Long = 9009
Private Const MAX_SHOWN As Long = 8
Private Const MAX_MESSAGE As Long = 900

' ---------------------------------------------------------------- 按钮

' 按钮“校验本工作簿”:保存后逐格校验,显示错误和提示。
Public Sub ValidateThisWorkbook()
    Dim book As Workbook, output As String, exitCode As Long
    Set book = ActiveWorkbook
    If Not SavedOnDisk(book) Then Exit Sub
    exitCode = Validate(book, "", output)
    If exitCode = CMD_NOT_FOUND Then Exit Sub
    ShowValidation book, exitCode, output, ""
End Sub

' 按钮“提交到共享盘”:校验后把本工作簿复制到 <共享盘>\inbox\<填报单位>\。
Public Sub SubmitToDrive()
    Dim book As Workbook, output As String, exitCode As Long
    Dim submitter As String, folder As String, target As String, partial As String
    Set book = ActiveWorkbook
    If Not SavedOnDisk(book) Then Exit Sub
    submitter = StampSubmitter(book)
    If submitter = "" Then
        MsgBox "本工作簿没有“" & STAMP_SHEET & "”表,或表中没有写明填报单位。" & vbCrLf & _
               "请使用下发的填报模板填写后再提交。", vbExclamation, TITLE
        Exit Sub
    End If
    folder = DrivePath() & "\inbox\" & submitter
    If Not Fso().FolderExists(folder) Then
        MsgBox "共享盘上找不到本单位的文件夹:" & vbCrLf & folder & vbCrLf & vbCrLf & _
               "请确认已连接共享盘,或联系市工作组办公室开通。", vbExclamation, TITLE
        Exit Sub
    End If

    exitCode = Validate(book, submitter, output)
    If exitCode = CMD_NOT_FOUND Then Exit Sub
    If exitCode <> EXIT_OK Then
        ShowValidation book, exitCode, output, ""
        If exitCode <> EXIT_PROBLEMS Then Exit Sub
        If MsgBox("有错误的行不会进入台账,其余的行照常接收。" & vbCrLf & "仍要提交吗?", _
                  vbYesNo + vbExclamation + vbDefaultButton2, TITLE) <> vbYes Then Exit Sub
    End If

    ' 先存为 ~ 开头、.part 结尾的临时文件(汇总时跳过),写完再改名,夜间汇总不会读到半个文件
    target = folder & "\" & book.Name
    partial = folder & "\~" & book.Name & ".part"
    On Error GoTo failed
    book.SaveCopyAs partial
    If Fso().FileExists(target) Then Fso().DeleteFile target, True
    Fso().MoveFile partial, target
    On Error GoTo 0
    MsgBox "已提交到共享盘:" & vbCrLf & target & vbCrLf & vbCrLf & _
           "今晚汇总后,结果会出现在总台账中。", vbInformation, TITLE
    Exit Sub
failed:
    MsgBox "复制到共享盘失败:" & Err.Description & vbCrLf & target, vbCritical, TITLE
End Sub

' 按钮“刷新总台账”:汇总共享盘收件箱中的全部文件,重新生成总台账(市工作组办公室使用)。
Public Sub RefreshMaster()
    Dim drive As String, master As String, output As String, exitCode As Long, note As String
    drive = DrivePath()
    If Not Fso().FolderExists(drive & "\inbox") Then
        MsgBox "共享盘下没有 inbox 文件夹:" & vbCrLf & drive, vbExclamation, TITLE
        Exit Sub
    End If
    master = drive & "\master\" & MASTER_NAME
    If IsOpen(MASTER_NAME) Then
        MsgBox "请先关闭已打开的“" & MASTER_NAME & "”,再刷新。", vbExclamation, TITLE
        Exit Sub
    End If

    Application.StatusBar = "正在汇总共享盘中的填报文件,请稍候……"
    Application.Cursor = xlWait
    exitCode = RunSheetsync("consolidate --drive " & Quote(drive), output)
    Application.Cursor = xlDefault
    Application.StatusBar = False
    If exitCode = CMD_NOT_FOUND Then Exit Sub

    If exitCode = EXIT_OK Or exitCode = EXIT_PROBLEMS Then
        If exitCode = EXIT_PROBLEMS Then note = vbCrLf & "部分文件有错误,详见总台账的“校验问题”表。"
        If MsgBox("总台账已更新:" & vbCrLf & master & note & vbCrLf & vbCrLf & "现在打开吗?", _
                  vbYesNo + vbInformation, TITLE) = vbYes Then
            Workbooks.Open Filename:=master, ReadOnly:=True
        End If
    Else
        ShowText "汇总失败:", output
    End If
End Sub

' 按钮“抽取专家”:为一家企业的评估或验收随机抽取专家组,结果记入台账(市工作组办公室使用)。
Public Sub DrawExpertPanel()
    Dim enterprise As String, purpose As String, size As String, arguments As String
    Dim output As String, exitCode As Long

    enterprise = Trim$(InputBox("被审核企业的统一社会信用代码(18位):", TITLE, SelectedText()))
    If enterprise = "" Then Exit Sub
    purpose = Trim$(InputBox("抽取用途,填“评估”或“验收”:", TITLE, "评估"))
    If purpose = "" Then Exit Sub
    If purpose <> "评估" And purpose <> "验收" Then
        MsgBox "抽取用途只能是“评估”或“验收”。", vbExclamation, TITLE
        Exit Sub
    End If
    size = Trim$(InputBox("专家组人数(3至7人;留空按规则方案,一般为5人):", TITLE, ""))
    If size <> "" And Not IsNumeric(size) Then
        MsgBox "专家组人数应为数字。", vbExclamation, TITLE
        Exit Sub
    End If

    arguments = "panel draw --drive " & Quote(DrivePath()) & " --enterprise " & Quote(enterprise) & _
                " --purpose " & Quote(purpose)
    If size <> "" Then arguments = arguments & " --size " & CLng(size)
    Application.StatusBar = "正在抽取专家……"
    exitCode = RunSheetsync(arguments, output)
    Application.StatusBar = False
    If exitCode = CMD_NOT_FOUND Then Exit Sub
    If exitCode = EXIT_OK Then
        ShowText "抽取完成,结果已记入台账:", output
    Else
        ShowText "未能抽取:", output
    End If
End Sub

' ---------------------------------------------------------------- 校验结果

' 运行 sheetsync validate(--json);能连上共享盘时同时对照台账核对引用的企业。
Private Function Validate(book As Workbook, submitter As String, ByRef output As String) As Long
    Dim arguments As String, drive As String
    arguments = "validate " & Quote(book.FullName) & " --json"
    If submitter <> "" Then arguments = arguments & " --submitter " & Quote(submitter)
    drive = DrivePath()
    If Fso().FolderExists(drive) Then arguments = arguments & " --drive " & Quote(drive)
    Application.StatusBar = "正在校验 " & book.Name & " ……"
    Validate = RunSheetsync(arguments, output)
    Application.StatusBar = False
End Function

Private Sub ShowValidation(book As Workbook, exitCode As Long, output As String, intro As String)
    Dim messages As Collection, sheetNames As Collection, cellRefs As Collection, severities As Collection
    Dim text As String, i As Long, errors As Long, warnings As Long, place As String

    If exitCode <> EXIT_OK And exitCode <> EXIT_PROBLEMS And InStr(output, """problems""") = 0 Then
        ShowText "校验未能完成:", output
        Exit Sub
    End If
    Set messages = JsonValues(output, "message")
    Set sheetNames = JsonValues(output, "sheet")
    Set cellRefs = JsonValues(output, "cell")
    Set severities = JsonValues(output, "severity")
    For i = 1 To severities.Count
        If severities(i) = "error" Then errors = errors + 1 Else warnings = warnings + 1
    Next i

    text = intro & book.Name & vbCrLf & _
           "接收 " & FirstValue(output, "rows_accepted") & " 行,退回 " & FirstValue(output, "rows_rejected") & _
           " 行;错误 " & errors & " 条,提示 " & warnings & " 条。" & vbCrLf
    If exitCode = EXIT_OK And errors = 0 Then text = text & vbCrLf & "校验通过,可以提交。" & vbCrLf
    For i = 1 To messages.Count
        If i > MAX_SHOWN Then
            text = text & vbCrLf & "……另有 " & (messages.Count - MAX_SHOWN) & " 条,完整结果见:" & LastOutputFile
            Exit For
        End If
        place = sheetNames(i)
        If cellRefs(i) <> "" Then place = place & " " & cellRefs(i)
        If severities(i) = "error" Then place = "[错误] " & place Else place = "[提示] " & place
        text = text & vbCrLf & place & ":" & messages(i)
    Next i
    If exitCode = EXIT_OK And errors = 0 Then
        MsgBox text, vbInformation, TITLE
    Else
        MsgBox text, vbExclamation, TITLE
    End If
End Sub

' ---------------------------------------------------------------- 运行 sheetsync

Private Function LastOutputFile() As String
    LastOutputFile = Environ$("TEMP") & "\sheetsync_output.txt"
End Function

' 运行一条 sheetsync 命令(不弹出黑色窗口),等它结束;返回退出码,输出(UTF-8)放进 output。
Private Function RunSheetsync(arguments As String, ByRef output As String) As Long
    Dim wsh As Object, command As String
    Set wsh = CreateObject("WScript.Shell")
    wsh.Environment("Process")("PYTHONUTF8") = "1"
    wsh.Environment("Process")("PYTHONIOENCODING") = "utf-8"
    If Fso().FileExists(LastOutputFile) Then Fso().DeleteFile LastOutputFile, True
    command = "cmd /s /c """ & Quote(SHEETSYNC_EXE) & " " & arguments & _
              " > " & Quote(LastOutputFile) & " 2>&1"""
    RunSheetsync = wsh.Run(command, 0, True)
    output = ReadUtf8(LastOutputFile)
    If RunSheetsync = CMD_NOT_FOUND Then
        MsgBox "找不到 sheetsync 命令。请先安装(pip install sheetsync),或在宏模块顶部把" & vbCrLf & _
               "SHEETSYNC_EXE 改为 sheetsync.exe 的完整路径。", vbCritical, TITLE
    End If
End Function

Private Function ReadUtf8(path As String) As String
    Dim stream As Object
    On Error GoTo failed
    Set stream = CreateObject("ADODB.Stream")
    stream.Type = 2 ' adTypeText
    stream.Charset = "utf-8"
    stream.Open
    stream.LoadFromFile path
    ReadUtf8 = stream.ReadText(-1)
    stream.Close
    Exit Function
failed:
    ReadUtf8 = ""
End Function

' 输出太长时只显示开头,并可用记事本打开完整内容。
Private Sub ShowText(heading As String, output As String)
    If Len(output) <= MAX_MESSAGE Then
        MsgBox heading & vbCrLf & vbCrLf & output, vbInformation, TITLE
    ElseIf MsgBox(heading & vbCrLf & vbCrLf & Left$(output, MAX_MESSAGE) & "……" & vbCrLf & vbCrLf & _
                  "内容较长,用记事本打开完整结果吗?", vbYesNo + vbInformation, TITLE) = vbYes Then
        Shell "notepad.exe " & Quote(LastOutputFile), vbNormalFocus
    End If
End Sub

' ---------------------------------------------------------------- 小工具

Private Function Quote(text As String) As String
    Quote = """" & text & """"
End Function

Private Function Fso() As Object
    Set Fso = CreateObject("Scripting.FileSystemObject")
End Function

' 共享盘根目录:名称 SHEETSYNC_DRIVE(活动工作簿优先,其次宏所在工作簿),否则为常量 DRIVE_DEFAULT。
Private Function DrivePath() As String
    Dim found As String
    found = NamedText(ActiveWorkbook, DRIVE_NAME)
    If found = "" Then found = NamedText(ThisWorkbook, DRIVE_NAME)
    If found = "" Then found = DRIVE_DEFAULT
    Do While Len(found) > 3 And Right$(found, 1) = "\"
        found = Left$(found, Len(found) - 1)
    Loop
    DrivePath = found
End Function

Private Function NamedText(book As Workbook, nameText As String) As String
    Dim found As Variant
    On Error Resume Next
    found = book.Names(nameText).RefersToRange.Cells(1, 1).Value
    If Err.Number <> 0 Then
        Err.Clear
        found = Application.Evaluate(book.Names(nameText).RefersTo)
    End If
    If Err.Number <> 0 Or IsError(found) Or IsArray(found) Then found = ""
    NamedText = Trim$(CStr(found))
    On Error GoTo 0
End Function

' 填报单位:隐藏的“填报信息”表中“填报单位”一行的 B 列(模板写在 B1)。
Private Function StampSubmitter(book As Workbook) As String
    Dim sheet As Worksheet, r As Long
    On Error Resume Next
    Set sheet = book.Worksheets(STAMP_SHEET)
    On Error GoTo 0
    If sheet Is Nothing Then Exit Function
    For r = 1 To 20
        If Trim$(CStr(sheet.Cells(r, 1).Value)) = STAMP_SUBMITTER Then
            StampSubmitter = Trim$(CStr(sheet.Cells(r, 2).Value))
            Exit Function
        End If
    Next r
    StampSubmitter = Trim$(CStr(sheet.Range("B1").Value))
End Function

Private Function SavedOnDisk(book As Workbook) As Boolean
    If book.Path = "" Then
        MsgBox "请先把工作簿保存到本机(文件 > 另存为),再校验或提交。", vbExclamation, TITLE
        Exit Function
    End If
    If Not book.Saved Then book.Save
    SavedOnDisk = True
End Function

Private Function IsOpen(bookName As String) As Boolean
    Dim book As Workbook
    For Each book In Workbooks
        If StrComp(book.Name, bookName, vbTextCompare) = 0 Then IsOpen = True
    Next book
End Function

Private Function SelectedText() As String
    On Error Resume Next
    SelectedText = Trim$(CStr(ActiveCell.Value))
    If Len(SelectedText) <> 18 Then SelectedText = ""
End Function

' ---------------------------------------------------------------- 读 sheetsync 的 JSON 输出

' 某个键的全部取值(依出现顺序;字符串去掉转义,null 为空)。sheetsync 的 JSON 以两格缩进、“键": 值”书写。
Private Function JsonValues(text As String, key As String) As Collection
    Dim found As New Collection, marker As String, position As Long, valueAt As Long
    marker = """" & key & """: "
    position = InStr(1, text, marker, vbBinaryCompare)
    Do While position > 0
        valueAt = position + Len(marker)
        If Mid$(text, valueAt, 1) = """" Then
            found.Add JsonString(text, valueAt)
        Else
            found.Add JsonBare(text, valueAt)
        End If
        position = InStr(valueAt, text, marker, vbBinaryCompare)
    Loop
    Set JsonValues = found
End Function

Private Function FirstValue(text As String, key As String) As String
    Dim found As Collection
    Set found = JsonValues(text, key)
    If found.Count > 0 Then FirstValue = found(1) Else FirstValue = "?"
End Function

Private Function JsonString(text As String, opening As Long) As String
    Dim i As Long, ch As String, result As String
    i = opening + 1
    Do While i <= Len(text)
        ch = Mid$(text, i, 1)
        If ch = """" Then Exit Do
        If ch = "\" Then
            i = i + 1
            ch = Mid$(text, i, 1)
            Select Case ch
                Case "n": ch = vbLf
                Case "t": ch = vbTab
                Case "r", "b", "f": ch = ""
                Case "u"
                    ch = ChrW$(CLng("&H" & Mid$(text, i + 1, 4)))
                    i = i + 4
            End Select
        End If
        result = result & ch
        i = i + 1
    Loop
    JsonString = result
End Function

Private Function JsonBare(text As String, start As Long) As String
    Dim i As Long, ch As String
    i = start
    Do While i <= Len(text)
        ch = Mid$(text, i, 1)
        If ch = "," Or ch = "}" Or ch = "]" Or ch = vbCr Or ch = vbLf Then Exit Do
        i = i + 1
    Loop
    JsonBare = Trim$(Mid$(text, start, i - start))
    If JsonBare = "null" Then JsonBare = ""
End Function
